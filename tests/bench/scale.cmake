# Scale and memory (docs/MEMORY.md): the memory probe (one far-ahead Initiate per
# connection) and the scale benchmark's smaller CI version.
add_executable(curvecp_scale_probe ${CMAKE_CURRENT_LIST_DIR}/scale_probe.cpp)
target_link_libraries(curvecp_scale_probe PRIVATE curvecp_daemon)

# The benchmark at CI size (MODE=test): every connection must finish and a far-ahead
# Initiate must not commit the receive window; no speed is asserted. The full run is
#   MODE=bench bash tests/bench/scale.sh build/curvecp build/tests/e2e/curvecp_loadgen \
#     build/tests/bench/curvecp_scale_probe
add_test(NAME bench_scale_small
         COMMAND ${CMAKE_COMMAND} -E env MODE=test PROBE_N=50 HOLD_N=200 HOLD_S=3 BURST_N=200 RATE_N=200 RATE=100
                 bash ${CMAKE_CURRENT_LIST_DIR}/scale.sh $<TARGET_FILE:curvecp> $<TARGET_FILE:curvecp_loadgen>
                 $<TARGET_FILE:curvecp_scale_probe>)
# The same with one socket per program (serve --program-socket), holding and short.
add_test(NAME bench_scale_socket
         COMMAND ${CMAKE_COMMAND} -E env MODE=test "PHASES=hold rate" HOLD_N=300 HOLD_S=20 RATE_N=200 RATE=100
                 SERVE_FLAGS=--program-socket
                 bash ${CMAKE_CURRENT_LIST_DIR}/scale.sh $<TARGET_FILE:curvecp> $<TARGET_FILE:curvecp_loadgen>
                 $<TARGET_FILE:curvecp_scale_probe>)
curvecp_test_properties(TIMEOUT 400 LABELS e2e TESTS bench_scale_small bench_scale_socket)
