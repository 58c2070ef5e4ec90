# Slurm suite: `csweep submit` / `status` / `resubmit` against a real slurmctld/slurmd on
# localhost, started and stopped by each scenario (needs root, munge and slurm-wlm from
# scripts/install_deps.sh). slurm.reference runs the spec once in one process; every scenario's
# merged tables must equal it (tests/slurm/run_slurm_test.sh describes the scenarios).
# Run: ctest -L slurm
set(CSWEEP_SLURM_WORK ${CMAKE_CURRENT_BINARY_DIR}/slurm-scenarios)
add_test(NAME slurm.reference
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/slurm/run_slurm_test.sh $<TARGET_FILE:csweep>
                 ${CSWEEP_SLURM_WORK} reference)
set_tests_properties(slurm.reference PROPERTIES LABELS slurm TIMEOUT 300 RUN_SERIAL TRUE
                     FIXTURES_SETUP slurm_reference)
foreach(s a_array b_signal c_resubmit d_split)
  add_test(NAME slurm.${s}
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/slurm/run_slurm_test.sh $<TARGET_FILE:csweep>
                   ${CSWEEP_SLURM_WORK} ${s})
  set_tests_properties(slurm.${s} PROPERTIES LABELS slurm TIMEOUT 600 RUN_SERIAL TRUE
                       FIXTURES_REQUIRED slurm_reference)
endforeach()
