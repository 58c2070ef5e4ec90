# Real-model check (label "realmodel"): SmolLM2-135M-Instruct as a Q4_1 GGUF, fetched by
# scripts/fetch_smollm2.sh (not committed: ~98 MB). The test FAILS, naming the fetch command, when
# the file is absent: a missing model is never a silent pass.
add_executable(test_smollm2 ${CMAKE_CURRENT_LIST_DIR}/test_smollm2.cpp)
target_link_libraries(test_smollm2 PRIVATE csweep_model GTest::gtest GTest::gtest_main)
target_compile_options(test_smollm2 PRIVATE ${CSWEEP_WARNINGS})
target_compile_definitions(test_smollm2 PRIVATE
  CSWEEP_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
  CSWEEP_FIXTURES_DIR="${PROJECT_SOURCE_DIR}/tests/fixtures")
add_test(NAME realmodel.smollm2 COMMAND test_smollm2 WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(realmodel.smollm2 PROPERTIES LABELS realmodel TIMEOUT 900)
