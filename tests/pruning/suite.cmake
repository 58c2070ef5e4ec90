# Pruning end to end: the real csweep runs pruning families (tests/pruning/jobs/prune.toml) under
# mpirun; check_pruning.py reads the file with Debian's h5py only and replays every run's
# removal decisions, visiting orders and circuits from the stored steps. Run: ctest -L pruning
find_program(CSWEEP_PRUNING_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(CSWEEP_PRUNING_PYTHON AND MPIEXEC_EXECUTABLE AND TARGET csweep)
  add_test(NAME pruning.e2e
           COMMAND ${CSWEEP_PRUNING_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/check_pruning.py
                   --csweep $<TARGET_FILE:csweep> --mpirun ${MPIEXEC_EXECUTABLE}
                   --job ${CMAKE_CURRENT_LIST_DIR}/jobs/prune.toml
                   --workdir ${CMAKE_CURRENT_BINARY_DIR}/pruning-e2e)
  set_tests_properties(pruning.e2e PROPERTIES LABELS pruning TIMEOUT 600 RUN_SERIAL TRUE)
endif()
