# The build's own configure-time guard: CSWEEP_WITH_CUDA=ON against a LibTorch without CUDA stops
# with a message naming it (cmake/CsweepTorch.cmake). Only meaningful in a CPU-LibTorch build.
if(NOT CSWEEP_TORCH_HAS_CUDA)
  add_test(NAME cmake.cuda_needs_cuda_libtorch
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/check_cuda_configure.sh ${PROJECT_SOURCE_DIR}
                   ${CMAKE_CURRENT_BINARY_DIR}/cuda_configure_work)
  set_tests_properties(cmake.cuda_needs_cuda_libtorch PROPERTIES LABELS cli TIMEOUT 300)
endif()
