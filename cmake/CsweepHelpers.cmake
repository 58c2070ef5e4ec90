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

# Torch headers cost ~20-30 s per translation unit (parsing <torch/torch.h> alone), so they are
# precompiled once for the whole build: the first torch module (csweep_model) owns the header and
# every other torch target, libraries, tests and benchmarks alike, reuses it (REUSE_FROM). A
# precompiled header per target cost one more ~45-100 s compile each (five libraries, 1.13 and
# 2.15 alike) and left the test binaries, which had none, parsing the headers in every file.
# A reused header must be compiled with the same flags as its users: GCC rejects it (and, with
# -Winvalid-pch, says so) when -fpic/-fpie differ, so executables that reuse it compile -fPIC like
# the libraries (PIC code links into a PIE executable unchanged).
function(csweep_torch_pch target)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    return()
  endif()
  get_property(owner GLOBAL PROPERTY CSWEEP_TORCH_PCH_OWNER)
  if(NOT owner)
    target_precompile_headers(${target} PRIVATE <torch/torch.h>)
    set_property(GLOBAL PROPERTY CSWEEP_TORCH_PCH_OWNER ${target})
  else()
    target_precompile_headers(${target} REUSE_FROM ${owner})
  endif()
  if(type STREQUAL "EXECUTABLE")
    target_compile_options(${target} PRIVATE -fPIC)
  endif()
  set_property(GLOBAL APPEND PROPERTY CSWEEP_TORCH_TARGETS ${target})
endfunction()

# csweep_uses_torch(<out> <libs>...): whether any of <libs> is a torch module (csweep_torch_pch).
function(csweep_uses_torch out)
  get_property(torch_targets GLOBAL PROPERTY CSWEEP_TORCH_TARGETS)
  set(uses OFF)
  foreach(lib IN LISTS ARGN)
    if(lib IN_LIST torch_targets)
      set(uses ON)
    endif()
  endforeach()
  set(${out} ${uses} PARENT_SCOPE)
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
  csweep_uses_torch(uses_torch ${ARGN})
  if(uses_torch)
    csweep_torch_pch(${name})
  endif()
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
