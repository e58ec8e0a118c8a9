# Debian packages (cpack -G DEB in a build folder), one per install component:
#   librnnc0     runtime: librnnc.so.0 (dependencies from dpkg-shlibdeps)
#   librnnc-dev  dev: headers, librnnc.so, librnnc.a, the CMake package, rnnc.pc
#   rnnc         program: the rnnc command
# Configure with -DCMAKE_INSTALL_PREFIX=/usr for Debian's multiarch library
# folder; with the default prefix the library goes to /usr/lib, which works too.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME rnnc)
set(CPACK_PACKAGE_VENDOR "rnnc")
set(CPACK_PACKAGE_CONTACT "rnnc maintainers <rnnc-maintainers@users.noreply.github.com>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Keras-compatible GRU training framework in C")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime dev program)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(_rnnc_deb_version "${PROJECT_VERSION}")
set(CPACK_DEBIAN_PACKAGE_VERSION "${_rnnc_deb_version}")

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME librnnc0)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION "Keras-compatible GRU training framework in C (shared library)")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME librnnc-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
# The -dev package carries librnnc.a and rnnc.pc's Requires.private: the
# development packages of what the library links.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "librnnc0 (= ${_rnnc_deb_version}), libhdf5-dev, libyaml-dev, libzip-dev, libopenblas-dev | libblas-dev, pkg-config")
if(RNNC_HAVE_MPI)
  string(APPEND CPACK_DEBIAN_DEV_PACKAGE_DEPENDS ", libopenmpi-dev")
endif()
set(CPACK_DEBIAN_DEV_DESCRIPTION "Keras-compatible GRU training framework in C (development files)")

set(CPACK_DEBIAN_PROGRAM_PACKAGE_NAME rnnc)
set(CPACK_DEBIAN_PROGRAM_PACKAGE_SECTION science)
# The program's libraries from dpkg-shlibdeps (optional ones too: protobuf-c
# for the TensorBoard callback, cairo for `rnnc plot -o x.png`, when built
# in); librnnc.so.0 is found in the build folder and named here, exactly.
set(CPACK_DEBIAN_PROGRAM_PACKAGE_DEPENDS "librnnc0 (= ${_rnnc_deb_version})")
set(CPACK_DEBIAN_PROGRAM_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${CMAKE_BINARY_DIR})
set(CPACK_DEBIAN_PROGRAM_DESCRIPTION "Keras-compatible GRU training framework in C (the rnnc command)")

include(CPack)
