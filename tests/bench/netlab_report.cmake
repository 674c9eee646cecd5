# Real-path benchmark (not a test): tests/bench/netlab_report runs the netlab scenario matrix
# and writes a report directory (docs/NETLAB.md). Needs root. With the default subset:
#   cmake --build BUILD --target bench_netlab
add_custom_target(bench_netlab
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/netlab_report --build ${CMAKE_BINARY_DIR}
  DEPENDS curvecp curvecp_delaybox curvecp_netlab_meter
  USES_TERMINAL
  COMMENT "netlab real-path benchmark (root, network namespaces)")
