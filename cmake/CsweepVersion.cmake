# Writes csweep/version.hpp (kVersion, kGitRevision) from core/version.hpp.in.
#
# Run as a script at every build (custom target csweep_version in CMakeLists.txt), so the revision
# stored in every results file is that of the sources actually compiled, not of the last
# configure:
#   cmake -DSOURCE_DIR=.. -DTEMPLATE=.. -DOUTPUT=.. -DPROJECT_VERSION=.. [-DGIT_EXECUTABLE=..]
#         -P CsweepVersion.cmake
# configure_file() rewrites OUTPUT only when its content changes, so an unchanged revision causes
# no recompilation (the custom target declares OUTPUT as a byproduct; Ninja restats it).
foreach(var SOURCE_DIR TEMPLATE OUTPUT PROJECT_VERSION)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "CsweepVersion.cmake: ${var} is not set")
  endif()
endforeach()
if(NOT GIT_EXECUTABLE)
  set(GIT_EXECUTABLE git)
endif()

# "<tag>-<n>-g<hash>[-dirty]" when a tag exists, else "<hash>[-dirty]"; "-dirty" marks
# uncommitted changes to tracked files.
execute_process(COMMAND ${GIT_EXECUTABLE} describe --always --dirty --abbrev=12
                WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE CSWEEP_GIT_REVISION OUTPUT_STRIP_TRAILING_WHITESPACE
                RESULT_VARIABLE rc ERROR_QUIET)
if(NOT rc EQUAL 0 OR NOT CSWEEP_GIT_REVISION)
  execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --short=12 HEAD
                  WORKING_DIRECTORY ${SOURCE_DIR}
                  OUTPUT_VARIABLE CSWEEP_GIT_REVISION OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE rc ERROR_QUIET)
endif()
if(NOT rc EQUAL 0 OR NOT CSWEEP_GIT_REVISION)
  set(CSWEEP_GIT_REVISION "unknown")  # not a git checkout (e.g. a source tarball)
endif()

configure_file(${TEMPLATE} ${OUTPUT} @ONLY)
