include_guard(GLOBAL)

# medic_add_test(NAME SOURCES a.cc b.cc DEPS lib… [LABELS …])
# A GoogleTest binary whose cases are registered with ctest one by one. Fixture trees are
# found through MEDIC_FIXTURES, binaries under test through MEDIC_BIN_DIR.
function(medic_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE medic_cxx_settings ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE
    MEDIC_FIXTURES="${PROJECT_SOURCE_DIR}/tests/fixtures"
    MEDIC_BIN_DIR="${PROJECT_BINARY_DIR}/bin")
  set(labels unit)
  if(ARG_LABELS)
    set(labels ${ARG_LABELS})
  endif()
  gtest_discover_tests(${name} PROPERTIES LABELS "${labels}" DISCOVERY_TIMEOUT 30)
endfunction()
