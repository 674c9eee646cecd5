# Handshake-flood benchmark (not a test): an established download's rate alone and during a
# Hello/Initiate flood from the same machine. Run it with:
#   cmake --build BUILD --target bench_flood
add_executable(curvecp_flood_client ${CMAKE_CURRENT_LIST_DIR}/flood_client.cpp)
target_link_libraries(curvecp_flood_client PRIVATE curvecp_crypto)
add_custom_target(bench_flood
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/flood.sh $<TARGET_FILE:curvecp> $<TARGET_FILE:curvecp_flood_client>
  DEPENDS curvecp curvecp_flood_client
  USES_TERMINAL
  COMMENT "curvecp handshake-flood benchmark (loopback)")
# CI: a newcomer gets in during a flood from one generator (short windows; the rates are
# printed, not asserted).
add_test(NAME bench_flood_newcomer
         COMMAND ${CMAKE_COMMAND} -E env MODE=test WINDOW=3 FLOOD_PROCS=1
                 bash ${CMAKE_CURRENT_LIST_DIR}/flood.sh $<TARGET_FILE:curvecp> $<TARGET_FILE:curvecp_flood_client>)
curvecp_test_properties(TIMEOUT 180 LABELS e2e TESTS bench_flood_newcomer)
