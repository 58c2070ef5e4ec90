# Finds LibTorch, once, for the whole build: Debian's libtorch-dev 1.13 (CPU) by default, or a
# CUDA LibTorch 2.x (the PyPI torch wheel's, a cluster's libtorch) with CSWEEP_WITH_CUDA=ON.
#
# Inputs: Torch_DIR (<libtorch>/share/cmake/Torch) or CSWEEP_TORCH_ROOT (<libtorch>, e.g.
# <site-packages>/torch). Outputs: TORCH_LIBRARIES, TORCH_INSTALL_PREFIX, CSWEEP_TORCH_VERSION,
# CSWEEP_TORCH_HAS_CUDA, and the interface target csweep_fmt_first (see below).

set(CSWEEP_TORCH_ROOT "" CACHE PATH
    "circuitsweep: LibTorch prefix to use (directory holding share/cmake/Torch), e.g. <site-packages>/torch")
if(NOT CSWEEP_TORCH_ROOT AND Torch_DIR)
  # A Torch_DIR of the form <root>/share/cmake/Torch names a LibTorch prefix (Debian's config
  # lives elsewhere, /usr/lib/<triplet>/cmake/Torch, and is left to the plain search).
  get_filename_component(_root "${Torch_DIR}/../../.." ABSOLUTE)
  if(EXISTS "${_root}/share/cmake/Torch/TorchConfig.cmake")
    set(CSWEEP_TORCH_ROOT "${_root}")
  endif()
endif()

if(CSWEEP_TORCH_ROOT)
  if(NOT EXISTS "${CSWEEP_TORCH_ROOT}/share/cmake/Torch/TorchConfig.cmake")
    message(FATAL_ERROR "CSWEEP_TORCH_ROOT=${CSWEEP_TORCH_ROOT}: no share/cmake/Torch/TorchConfig.cmake "
                        "there (expected a LibTorch prefix such as <site-packages>/torch)")
  endif()
  # TorchConfig finds Caffe2 (and through it c10, the CUDA libraries) with a plain find_package:
  # with only Torch_DIR given, that search finds Debian's /usr/lib/.../cmake/Caffe2 first and the
  # build silently mixes the CPU libtorch.so of one LibTorch with the headers of another. Pin
  # every config of the LibTorch family to the same prefix, FORCE so a stale cache cannot win.
  set(Torch_DIR  "${CSWEEP_TORCH_ROOT}/share/cmake/Torch"  CACHE PATH "LibTorch config" FORCE)
  set(Caffe2_DIR "${CSWEEP_TORCH_ROOT}/share/cmake/Caffe2" CACHE PATH "Caffe2 config (same LibTorch)" FORCE)
  list(PREPEND CMAKE_PREFIX_PATH "${CSWEEP_TORCH_ROOT}")
endif()

if(CSWEEP_WITH_CUDA)
  find_package(CUDAToolkit REQUIRED)
  # LibTorch 2.x takes its device code architectures from TORCH_CUDA_ARCH_LIST (it generates the
  # -gencode flags itself); circuitsweep compiles no .cu files, so this only silences its guess
  # (which queries a GPU that a build machine need not have).
  if(NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST} AND NOT TORCH_CUDA_ARCH_LIST)
    set(TORCH_CUDA_ARCH_LIST "8.0;9.0")
  endif()
endif()

find_package(Torch REQUIRED)

set(CSWEEP_TORCH_VERSION "${Torch_VERSION}")
if(NOT CSWEEP_TORCH_VERSION)
  set(CSWEEP_TORCH_VERSION "unknown")
endif()
if(CAFFE2_USE_CUDA OR TARGET torch_cuda)
  set(CSWEEP_TORCH_HAS_CUDA ON)
else()
  set(CSWEEP_TORCH_HAS_CUDA OFF)
endif()
message(STATUS "circuitsweep: LibTorch ${CSWEEP_TORCH_VERSION} at ${TORCH_INSTALL_PREFIX} "
               "(CUDA: ${CSWEEP_TORCH_HAS_CUDA}; config ${Torch_DIR})")

if(CSWEEP_WITH_CUDA AND NOT CSWEEP_TORCH_HAS_CUDA)
  message(FATAL_ERROR
    "CSWEEP_WITH_CUDA=ON, but the LibTorch found has no CUDA support:\n"
    "  LibTorch ${CSWEEP_TORCH_VERSION} at ${TORCH_INSTALL_PREFIX} (config ${Torch_DIR})\n"
    "Point the build at a CUDA LibTorch, e.g. the PyPI wheel's:\n"
    "  pip install --no-deps --target ~/.cache/circuitsweep/torch-cuda torch==2.15.0   (or scripts/build.sh --cuda)\n"
    "  cmake -DCSWEEP_WITH_CUDA=ON -DCSWEEP_TORCH_ROOT=~/.cache/circuitsweep/torch-cuda/torch ...\n"
    "or -DCSWEEP_TORCH_ROOT=<libtorch> for a cluster's LibTorch (the directory holding share/cmake/Torch). "
    "Use a fresh build directory: this one has cached the CPU LibTorch.")
endif()

# fmt: a LibTorch 2.x ships its own copy of fmt's headers in <libtorch>/include/fmt (c10 is built
# against it, privately). That directory is on every torch TU's include path, so there
# <fmt/format.h> resolves to LibTorch's fmt (a newer major version) while the library linked is
# the system's libfmt, and the system's spdlog (built for the system fmt, using fmt::basic_runtime
# that newer fmt removed) fails to compile. circuitsweep's own fmt and spdlog calls must see the
# fmt it links. The compiler never lets -I /usr/include come before another -I, so the system
# fmt and spdlog headers are exposed through a directory of links to them, put first on the
# include path of every target that links LibTorch (before LibTorch's, which CMake passes as -isystem). LibTorch's
# own headers that include fmt are only profiler/CUDA-tunable internals circuitsweep does not
# include; its libraries keep their fmt symbols internal, so nothing mixes at link time.
add_library(csweep_fmt_first INTERFACE)
if(CSWEEP_TORCH_ROOT AND EXISTS "${TORCH_INSTALL_PREFIX}/include/fmt")
  get_target_property(_fmt_inc fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
  get_target_property(_spdlog_inc spdlog::spdlog INTERFACE_INCLUDE_DIRECTORIES)
  if(NOT _fmt_inc)
    set(_fmt_inc /usr/include)
  endif()
  if(NOT _spdlog_inc)
    set(_spdlog_inc /usr/include)
  endif()
  set(_shim "${CMAKE_BINARY_DIR}/generated/fmt-first")
  file(MAKE_DIRECTORY "${_shim}")
  foreach(pair "fmt;${_fmt_inc}" "spdlog;${_spdlog_inc}")
    list(GET pair 0 _name)
    list(GET pair 1 _dir)
    if(NOT EXISTS "${_dir}/${_name}")
      message(FATAL_ERROR "circuitsweep: ${_name} headers not found in ${_dir} (from the ${_name} CMake config)")
    endif()
    file(CREATE_LINK "${_dir}/${_name}" "${_shim}/${_name}" SYMBOLIC)
  endforeach()
  target_include_directories(csweep_fmt_first BEFORE INTERFACE "${_shim}")
  message(STATUS "circuitsweep: fmt/spdlog headers from ${_fmt_inc} ahead of ${TORCH_INSTALL_PREFIX}/include/fmt")
endif()

# Run-time paths: binaries run from the build tree and from ctest find the LibTorch they were
# linked with (its own RUNPATH finds the wheel's nvidia-* libraries next to it) and the CUDA
# toolkit's libraries that the wheel does not bundle (cudart, cublas, cudnn, nccl, ...).
if(CSWEEP_TORCH_ROOT)
  set(_rpath "${TORCH_INSTALL_PREFIX}/lib")
  if(CSWEEP_WITH_CUDA AND CUDAToolkit_LIBRARY_DIR)
    list(APPEND _rpath "${CUDAToolkit_LIBRARY_DIR}")
  endif()
  list(APPEND CMAKE_BUILD_RPATH ${_rpath})
  list(APPEND CMAKE_INSTALL_RPATH ${_rpath})
  # The linker resolves the libraries libtorch_cuda.so needs (cudnn, nvshmem, cusparseLt, ...)
  # through the same paths LibTorch's RUNPATH names; -rpath-link tells it where they are.
  file(GLOB _nv_libdirs LIST_DIRECTORIES true "${TORCH_INSTALL_PREFIX}/../nvidia/*/lib")
  # The wheel's nvidia/* directories first: its NCCL is newer than the toolkit's, which lacks
  # symbols libtorch_cuda.so needs (at run time libtorch_cuda.so's own RUNPATH finds the same).
  foreach(_d IN LISTS _nv_libdirs _rpath)
    add_link_options("LINKER:-rpath-link,${_d}")
  endforeach()
endif()
