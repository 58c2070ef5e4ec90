# Slurm suite: a real slurmctld/slurmd on localhost started by the test script (needs root,
# munge and slurm-wlm from scripts/install_deps.sh). Run: ctest -L slurm
add_test(NAME slurm.sweep
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/slurm/run_slurm_test.sh $<TARGET_FILE:csweep>
                 ${CMAKE_CURRENT_BINARY_DIR}/slurm-sweep)
set_tests_properties(slurm.sweep PROPERTIES LABELS slurm TIMEOUT 900 RUN_SERIAL TRUE)
