# End-to-end test of `csweep dump`: runs it on fixture models and checks the HDF5 file with h5py
# (CI's /usr/bin/python3) against the reference activations of tests/fixtures/reference.
if(TARGET csweep)
  add_test(NAME dump.reference
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_dump.py
                   $<TARGET_FILE:csweep> ${PROJECT_SOURCE_DIR}/tests/fixtures
                   ${CMAKE_CURRENT_BINARY_DIR}/dump_work)
  set_tests_properties(dump.reference PROPERTIES LABELS cli TIMEOUT 300)
endif()
