# sim_report: the standard simulator scenarios (tests/sim/sim_scenario.h) for every
# algorithm, side by side.
# Prints figures only (nothing asserted); the assertions live in tests/sim.
add_executable(sim_report ${CMAKE_CURRENT_LIST_DIR}/sim_report.cpp)
target_link_libraries(sim_report PRIVATE curvecp_sim)
