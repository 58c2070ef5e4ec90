# End-to-end tests of the csweep binary, driven by Python scripts using only the standard library
# (CI's /usr/bin/python3).
if(TARGET csweep)
  add_test(NAME cli.tokenize
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_tokenize.py
                   $<TARGET_FILE:csweep> ${PROJECT_SOURCE_DIR}/data/tokenizers/gpt2
                   ${PROJECT_SOURCE_DIR}/tests/fixtures/gpt2_bpe_vectors.jsonl)
  set_tests_properties(cli.tokenize PROPERTIES LABELS cli TIMEOUT 120)
endif()

# Job spec errors found at load by plan and run (file:line, exit 2, no output left behind).
if(TARGET csweep)
  add_test(NAME cli.spec_errors
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_spec_errors.py
                   $<TARGET_FILE:csweep> ${PROJECT_SOURCE_DIR}/jobs/quickstart.toml
                   ${CMAKE_CURRENT_BINARY_DIR}/spec_errors_work)
  set_tests_properties(cli.spec_errors PROPERTIES LABELS cli TIMEOUT 120)
endif()
