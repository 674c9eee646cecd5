# Throughput benchmark (not a test): curvecp vs the reference tools vs ssh
# (chacha20-poly1305) vs plain TCP over loopback, median of 3, MB/s and CPU seconds.
# Run it with:  cmake --build BUILD --target bench_throughput
add_executable(curvecp_throughput_tcp ${CMAKE_CURRENT_LIST_DIR}/throughput_tcp.cpp)
add_custom_target(bench_throughput
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/throughput.sh $<TARGET_FILE:curvecp> $<TARGET_FILE:curvecp_throughput_tcp>
  DEPENDS curvecp curvecp_throughput_tcp
  USES_TERMINAL
  COMMENT "curvecp throughput benchmark (loopback)")
