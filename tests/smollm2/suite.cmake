# Real-model check (label "realmodel"): SmolLM2-135M-Instruct as a Q4_1 GGUF, fetched by
# scripts/fetch_smollm2.sh (not committed: ~98 MB). The test FAILS, naming the fetch command, when
# the file is absent: a missing model is never a silent pass.
add_executable(test_smollm2 ${CMAKE_CURRENT_LIST_DIR}/test_smollm2.cpp)
target_link_libraries(test_smollm2 PRIVATE csweep_model GTest::gtest GTest::gtest_main)
target_compile_options(test_smollm2 PRIVATE ${CSWEEP_WARNINGS})
target_compile_definitions(test_smollm2 PRIVATE
  CSWEEP_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
  CSWEEP_FIXTURES_DIR="${PROJECT_SOURCE_DIR}/tests/fixtures")
csweep_torch_pch(test_smollm2)
add_test(NAME realmodel.smollm2 COMMAND test_smollm2 WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(realmodel.smollm2 PROPERTIES LABELS realmodel TIMEOUT 900)

# The csweep binary on the same file (tests/smollm2/check_cli.py, CI's /usr/bin/python3 + h5py):
# `csweep eval --model GGUF` with no other flag, `inspect`, and `dump` read back with h5py.
# Absent model → FAIL with the fetch command, as above.
if(TARGET csweep)
  foreach(mode eval inspect dump)
    add_test(NAME realmodel.smollm2.cli_${mode}
             COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_cli.py $<TARGET_FILE:csweep>
                     ${CMAKE_CURRENT_BINARY_DIR}/smollm2_cli_work ${mode})
    set_tests_properties(realmodel.smollm2.cli_${mode} PROPERTIES LABELS realmodel TIMEOUT 900)
  endforeach()
endif()
