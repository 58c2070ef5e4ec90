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

# A sweep over a user's own prompt file (custom task and corruption) with the clean-model filter,
# on the embedded default model; baselines read back with h5py and compared with csweep eval.
if(TARGET csweep)
  add_test(NAME cli.custom_sweep
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_custom_sweep.py
                   $<TARGET_FILE:csweep> ${CMAKE_CURRENT_BINARY_DIR}/custom_sweep_work)
  set_tests_properties(cli.custom_sweep PROPERTIES LABELS cli TIMEOUT 300)
endif()

# The one device policy from the command line: absent GPUs refused (flag / file:line, no output
# left), unknown names, bf16 runs recorded (dtype, device_by_rank) and kept apart from fp32 files.
if(TARGET csweep)
  add_test(NAME cli.compute
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_compute.py
                   $<TARGET_FILE:csweep> ${CMAKE_CURRENT_BINARY_DIR}/compute_work)
  set_tests_properties(cli.compute PROPERTIES LABELS cli TIMEOUT 300)
endif()
