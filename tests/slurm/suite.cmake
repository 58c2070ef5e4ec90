# Slurm suite: `csweep submit` / `status` / `resubmit` against a real slurmctld/slurmd on
# localhost, started and stopped by each scenario (needs root, munge and slurm-wlm from
# scripts/install_deps.sh). The reference tests run each spec once in one process; every
# scenario's merged tables must equal its spec's reference (tests/slurm/run_slurm_test.sh
# describes the scenarios). Scenario a runs jobs/quickstart.toml, b-d a smaller copy
# (tests/slurm/jobs/small.toml). Run: ctest -L slurm
set(CSWEEP_SLURM_WORK ${CMAKE_CURRENT_BINARY_DIR}/slurm-scenarios)
set(CSWEEP_SLURM_SCRIPT ${CMAKE_CURRENT_SOURCE_DIR}/slurm/run_slurm_test.sh)
set(CSWEEP_SLURM_SPEC_quickstart ${PROJECT_SOURCE_DIR}/jobs/quickstart.toml)
set(CSWEEP_SLURM_SPEC_small ${CMAKE_CURRENT_SOURCE_DIR}/slurm/jobs/small.toml)
foreach(spec quickstart small)
  add_test(NAME slurm.reference_${spec}
           COMMAND ${CSWEEP_SLURM_SCRIPT} $<TARGET_FILE:csweep> ${CSWEEP_SLURM_WORK} reference
                   ${CSWEEP_SLURM_SPEC_${spec}})
endforeach()
set_tests_properties(slurm.reference_quickstart PROPERTIES LABELS slurm TIMEOUT 600 RUN_SERIAL TRUE
                     FIXTURES_SETUP slurm_reference_quickstart)
set_tests_properties(slurm.reference_small PROPERTIES LABELS slurm TIMEOUT 300 RUN_SERIAL TRUE
                     FIXTURES_SETUP slurm_reference_small)
add_test(NAME slurm.a_array
         COMMAND ${CSWEEP_SLURM_SCRIPT} $<TARGET_FILE:csweep> ${CSWEEP_SLURM_WORK} a_array ${CSWEEP_SLURM_SPEC_quickstart})
set_tests_properties(slurm.a_array PROPERTIES LABELS slurm TIMEOUT 900 RUN_SERIAL TRUE
                     FIXTURES_REQUIRED slurm_reference_quickstart)
foreach(s b_signal c_resubmit d_split)
  add_test(NAME slurm.${s}
           COMMAND ${CSWEEP_SLURM_SCRIPT} $<TARGET_FILE:csweep> ${CSWEEP_SLURM_WORK} ${s} ${CSWEEP_SLURM_SPEC_small})
  set_tests_properties(slurm.${s} PROPERTIES LABELS slurm TIMEOUT 600 RUN_SERIAL TRUE
                       FIXTURES_REQUIRED slurm_reference_small)
endforeach()
