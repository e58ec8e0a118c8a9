# FindRnncCuda.cmake - the optional CUDA/cuDNN backend (framework/backend/cuda).
#
# include()d by the top CMakeLists.txt after the rnnc library target exists,
# when RNNC_CUDA is AUTO or ON. It looks for the CUDA Toolkit (CMake's
# FindCUDAToolkit: cudart, cuBLAS) and cuDNN (cudnn.h + libcudnn, under the
# toolkit or CUDNN_ROOT). AUTO builds the backend only when both are found
# and says why not otherwise; ON fails at configure time naming what is
# missing. When it builds the backend it
#   - enables the CUDA language (only then, so CPU-only machines never need
#     nvcc),
#   - compiles framework/backend/cuda/*.c and *.cu into the OBJECT library
#     rnnc_cuda and links those objects into the module librnnc_cuda.so
#     (target rnnc_cuda_module) with CUDA::cudart, CUDA::cublas and cuDNN;
#     librnnc loads it with dlopen at first use and never links a CUDA
#     library itself,
#   - defines RNNC_HAVE_CUDA and RNNC_CUDA_MODULE (the module's file name)
#     on framework/backend.c only (the backend registry: the one #ifdef),
#   - sets RNNC_HAVE_CUDA to ON in the including scope.
# Not here: anything GPU-dependent at configure time (no device query); a
# machine without a GPU builds the backend and skips the GPU tests at run
# time.

set(_rnnc_cuda_required OFF)
if(RNNC_CUDA STREQUAL "ON")
  set(_rnnc_cuda_required ON)
elseif(NOT RNNC_CUDA STREQUAL "AUTO")
  message(FATAL_ERROR "RNNC_CUDA must be AUTO, ON or OFF, got '${RNNC_CUDA}'")
endif()

# Reports a missing piece: fatal under ON, a notice (CPU-only build) under AUTO.
macro(_rnnc_cuda_missing what)
  if(_rnnc_cuda_required)
    message(FATAL_ERROR "RNNC_CUDA=ON but ${what}. Install it (or set CUDAToolkit_ROOT / "
                        "CUDNN_ROOT), or configure with -DRNNC_CUDA=AUTO or OFF.")
  endif()
  message(STATUS "rnnc: CUDA backend not built (${what}); configure with -DRNNC_CUDA=ON to require it")
  return()
endmacro()

# ---- CUDA Toolkit --------------------------------------------------------
# The toolkits on these machines live in /usr/local/cuda; help FindCUDAToolkit
# when nvcc is not on PATH.
if(NOT CUDAToolkit_ROOT AND NOT DEFINED ENV{CUDAToolkit_ROOT} AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CUDAToolkit_ROOT /usr/local/cuda)
endif()
find_package(CUDAToolkit QUIET)
if(NOT CUDAToolkit_FOUND)
  _rnnc_cuda_missing("the CUDA Toolkit was not found")
endif()
if(NOT TARGET CUDA::cudart OR NOT TARGET CUDA::cublas)
  _rnnc_cuda_missing("the CUDA Toolkit at ${CUDAToolkit_LIBRARY_ROOT} lacks cudart or cuBLAS")
endif()
if(NOT CUDAToolkit_NVCC_EXECUTABLE OR NOT EXISTS "${CUDAToolkit_NVCC_EXECUTABLE}")
  _rnnc_cuda_missing("nvcc was not found next to the CUDA Toolkit libraries")
endif()

# ---- cuDNN ---------------------------------------------------------------
set(CUDNN_ROOT "" CACHE PATH "Where cuDNN is installed (include/cudnn.h, lib/libcudnn.so)")
set(_rnnc_cudnn_hints ${CUDNN_ROOT} $ENV{CUDNN_ROOT} ${CUDAToolkit_LIBRARY_ROOT} /usr/local/cuda)
find_path(CUDNN_INCLUDE_DIR cudnn.h
  HINTS ${_rnnc_cudnn_hints} ${CUDAToolkit_INCLUDE_DIRS}
  PATH_SUFFIXES include)
find_library(CUDNN_LIBRARY cudnn
  HINTS ${_rnnc_cudnn_hints} ${CUDAToolkit_LIBRARY_DIR}
  PATH_SUFFIXES lib64 lib lib/x64)
if(NOT CUDNN_INCLUDE_DIR OR NOT CUDNN_LIBRARY OR NOT EXISTS "${CUDNN_INCLUDE_DIR}/cudnn.h"
   OR NOT EXISTS "${CUDNN_LIBRARY}")
  _rnnc_cuda_missing("cuDNN (cudnn.h and libcudnn) was not found")
endif()
# The RNN API used here (cudnnRNNForward, *_v8 backward) needs cuDNN >= 8.
set(_rnnc_cudnn_version_file "${CUDNN_INCLUDE_DIR}/cudnn_version.h")
if(NOT EXISTS "${_rnnc_cudnn_version_file}")
  _rnnc_cuda_missing("cuDNN at ${CUDNN_INCLUDE_DIR} has no cudnn_version.h (cuDNN >= 8 needed)")
endif()
file(STRINGS "${_rnnc_cudnn_version_file}" _rnnc_cudnn_major REGEX "^#define CUDNN_MAJOR +[0-9]+")
string(REGEX REPLACE "^#define CUDNN_MAJOR +([0-9]+).*" "\\1" _rnnc_cudnn_major "${_rnnc_cudnn_major}")
if(NOT _rnnc_cudnn_major OR _rnnc_cudnn_major LESS 8)
  _rnnc_cuda_missing("cuDNN ${_rnnc_cudnn_major} at ${CUDNN_INCLUDE_DIR} is too old (cuDNN >= 8 needed)")
endif()

# ---- the backend -----------------------------------------------------------
file(GLOB _rnnc_cuda_srcs CONFIGURE_DEPENDS
  ${CMAKE_CURRENT_SOURCE_DIR}/framework/backend/cuda/*.c
  ${CMAKE_CURRENT_SOURCE_DIR}/framework/backend/cuda/*.cu)
if(NOT _rnnc_cuda_srcs)
  _rnnc_cuda_missing("framework/backend/cuda has no sources")
endif()

# Real code for the GPUs these machines lend (A100 sm_80, H100/H200 sm_90)
# plus sm_90 PTX that newer GPUs JIT-compile. Override with
# -DCMAKE_CUDA_ARCHITECTURES=... (e.g. "native" on a GPU machine).
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES "80-real;90")
endif()
if(NOT CMAKE_CUDA_COMPILER)
  set(CMAKE_CUDA_COMPILER "${CUDAToolkit_NVCC_EXECUTABLE}")
endif()
enable_language(CUDA)

add_library(rnnc_cuda OBJECT ${_rnnc_cuda_srcs})
set_target_properties(rnnc_cuda PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_include_directories(rnnc_cuda PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
# cuDNN's headers are third-party: system includes, so -Wpedantic -Werror on
# our C files never trips on them.
target_include_directories(rnnc_cuda SYSTEM PRIVATE ${CUDNN_INCLUDE_DIR} ${CUDAToolkit_INCLUDE_DIRS})
target_compile_options(rnnc_cuda PRIVATE
  $<$<COMPILE_LANGUAGE:C>:${RNNC_WARNINGS}>
  $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra,-Wno-unused-parameter>)
if(RNNC_WERROR)
  target_compile_options(rnnc_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings>)
endif()
# No --use_fast_math: device code keeps IEEE float32 expf/tanhf, so the GPU
# matches the CPU within 1e-4.

# The backend is a module of its own, librnnc_cuda.so, loaded with dlopen
# at first use (framework/backend.c), so that librnnc itself never links
# cudart, cuBLAS or cuDNN: a process that stays on the CPU does not map
# them (they cost about 200 MB of resident memory and a tenth of a second
# at start). The module links librnnc for the framework's functions.
add_library(rnnc_cuda_module MODULE $<TARGET_OBJECTS:rnnc_cuda>)
target_link_libraries(rnnc_cuda_module PRIVATE rnnc CUDA::cudart CUDA::cublas ${CUDNN_LIBRARY})
# The objects are linked by the C linker (the module has no CUDA sources of
# its own); give it the architectures too (CMake checks them on every
# target that sees CUDA). Next to librnnc in the build tree and installed
# beside it; $ORIGIN finds librnnc.so.0 from there.
set_target_properties(rnnc_cuda_module PROPERTIES OUTPUT_NAME rnnc_cuda LINKER_LANGUAGE C
  CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}"
  LIBRARY_OUTPUT_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}" INSTALL_RPATH "$ORIGIN")
install(TARGETS rnnc_cuda_module LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime)
target_link_libraries(rnnc PRIVATE ${CMAKE_DL_LIBS})
# The registry (framework/backend.c) is the one place that knows.
set_property(SOURCE ${CMAKE_CURRENT_SOURCE_DIR}/framework/backend.c APPEND PROPERTY
  COMPILE_DEFINITIONS RNNC_HAVE_CUDA=1
  "RNNC_CUDA_MODULE=\"${CMAKE_SHARED_MODULE_PREFIX}rnnc_cuda${CMAKE_SHARED_MODULE_SUFFIX}\"")

set(RNNC_HAVE_CUDA ON)
message(STATUS "rnnc: CUDA backend ON (CUDA ${CUDAToolkit_VERSION}, cuDNN ${_rnnc_cudnn_major}: "
               "${CUDNN_LIBRARY}; architectures ${CMAKE_CUDA_ARCHITECTURES})")
