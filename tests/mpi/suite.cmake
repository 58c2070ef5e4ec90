# MPI suite: the sweep machinery (tests/mpi/sweep_driver = `csweep run`/`merge` with a
# deterministic evaluator) under real mpirun with 1, 2, 3 and 4 ranks, oversubscribed; tables are
# read back with Debian's /usr/bin/python3 h5py only. Run: ctest -L mpi
add_executable(sweep_driver ${CMAKE_CURRENT_SOURCE_DIR}/mpi/sweep_driver.cpp)
target_link_libraries(sweep_driver PRIVATE csweep_pipeline)
target_compile_options(sweep_driver PRIVATE ${CSWEEP_WARNINGS})

find_program(CSWEEP_H5PY_PYTHON NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(CSWEEP_H5PY_PYTHON AND MPIEXEC_EXECUTABLE)
  foreach(t ranks shards sigkill sigterm hang stop_any)
    add_test(NAME mpi.${t}
             COMMAND ${CSWEEP_H5PY_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/mpi/mpi_suite.py ${t}
                     --driver $<TARGET_FILE:sweep_driver> --mpirun ${MPIEXEC_EXECUTABLE}
                     --workdir ${CMAKE_CURRENT_BINARY_DIR}/mpi-${t})
    set_tests_properties(mpi.${t} PROPERTIES LABELS mpi TIMEOUT 300 RUN_SERIAL TRUE)
  endforeach()
  # Results store (issue 8): foreign journals, ledger/table cross-checks, checksums, disk full
  # (a tmpfs mounted by the test as root, else RLIMIT_FSIZE), merge into an input, reruns.
  add_test(NAME mpi.store
           COMMAND ${CSWEEP_H5PY_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/mpi/store_suite.py
                   --driver $<TARGET_FILE:sweep_driver> --mpirun ${MPIEXEC_EXECUTABLE}
                   --workdir ${CMAKE_CURRENT_BINARY_DIR}/mpi-store)
  set_tests_properties(mpi.store PROPERTIES LABELS mpi TIMEOUT 180 RUN_SERIAL TRUE)
  # Acceptance on the real engine: the real csweep on jobs/quickstart.toml (embedded default
  # model) with -np 1, -np 3 and 2 merged shards gives identical tables.
  if(TARGET csweep)
    add_test(NAME mpi.quickstart_ranks
             COMMAND ${CSWEEP_H5PY_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/mpi/mpi_suite.py quickstart_ranks
                     --driver $<TARGET_FILE:csweep> --mpirun ${MPIEXEC_EXECUTABLE}
                     --job ${PROJECT_SOURCE_DIR}/jobs/quickstart.toml
                     --workdir ${CMAKE_CURRENT_BINARY_DIR}/mpi-quickstart_ranks)
    set_tests_properties(mpi.quickstart_ranks PROPERTIES LABELS mpi TIMEOUT 900 RUN_SERIAL TRUE)
  endif()
endif()
