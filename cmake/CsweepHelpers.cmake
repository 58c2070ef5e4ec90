# csweep_module(<target> <dir>...): a static library from every .cpp in the given folders
# (non-recursive, so each folder is one module). A module without sources yet becomes an
# INTERFACE library, so the build graph is stable while modules are being filled in.
function(csweep_module target)
  set(srcs)
  foreach(dir IN LISTS ARGN)
    file(GLOB dir_srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/*.cpp)
    list(FILTER dir_srcs EXCLUDE REGEX ".*/main\\.cpp$")
    list(APPEND srcs ${dir_srcs})
  endforeach()
  if(srcs)
    add_library(${target} STATIC ${srcs})
    target_compile_options(${target} PRIVATE ${CSWEEP_WARNINGS})
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  else()
    add_library(${target} INTERFACE)
  endif()
endfunction()

# Torch headers cost ~18 s per translation unit; one precompiled header per library makes
# the rest of its files cheap.
function(csweep_torch_pch target)
  get_target_property(type ${target} TYPE)
  if(NOT type STREQUAL "INTERFACE_LIBRARY")
    target_precompile_headers(${target} PRIVATE <torch/torch.h>)
  endif()
endfunction()

# csweep_test(<name> <dir> <libs>...): one GoogleTest binary per source module, mirroring
# the source tree under tests/unit/<dir>.
function(csweep_test name dir)
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/unit/${dir}/*.cpp)
  if(NOT srcs)
    return()
  endif()
  add_executable(${name} ${srcs})
  target_link_libraries(${name} PRIVATE ${ARGN} GTest::gtest GTest::gtest_main)
  target_compile_options(${name} PRIVATE ${CSWEEP_WARNINGS})
  target_compile_definitions(${name} PRIVATE
    CSWEEP_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    CSWEEP_FIXTURES_DIR="${PROJECT_SOURCE_DIR}/tests/fixtures")
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 120 PROPERTIES LABELS unit
                       WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
endfunction()

# csweep_link(<target> <libs>...): PUBLIC for real libraries, INTERFACE for empty modules.
function(csweep_link target)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    target_link_libraries(${target} INTERFACE ${ARGN})
  else()
    target_link_libraries(${target} PUBLIC ${ARGN})
  endif()
endfunction()
