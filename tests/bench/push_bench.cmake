# File-push benchmark (not a test): curvecp push vs scp vs rsync over ssh on loopback,
# one 1 GiB file and 10,000 small files. Run it with:
#   cmake --build BUILD --target bench_push
add_custom_target(bench_push
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/push_bench.sh $<TARGET_FILE:curvecp>
  DEPENDS curvecp
  USES_TERMINAL
  COMMENT "curvecp push vs scp vs rsync benchmark (loopback)")
