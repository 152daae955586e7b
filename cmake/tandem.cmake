# tandem_library(NAME SOURCES a.cc b.cc DEPS lib1 lib2)
# Declares one module's static library; headers are included as "module/file.h" from src/.
function(tandem_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# tandem_test(NAME SOURCES a_test.cc DEPS lib1 [LABELS l1 l2])
# Declares one GoogleTest binary and registers each of its tests with ctest.
function(tandem_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_definitions(${name} PRIVATE
    TANDEM_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
    TANDEM_BINARY="${CMAKE_BINARY_DIR}/src/cli/tandem")
  # libxgboost's OpenMP threads busy-wait by default, which starves parallel tests on 2 cores.
  set(properties ENVIRONMENT "OMP_WAIT_POLICY=PASSIVE")
  if(ARG_LABELS)
    list(APPEND properties LABELS "${ARG_LABELS}")
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES ${properties})
endfunction()
