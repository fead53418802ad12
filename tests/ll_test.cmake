# ll_test(NAME name LIBS ...): builds tests/<dir>/*_test.cpp into test_<name>.
function(ll_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "LIBS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cpp)
  if(NOT srcs)
    return()
  endif()
  add_executable(test_${T_NAME} ${srcs})
  target_link_libraries(test_${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main)
  target_include_directories(test_${T_NAME} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
  target_compile_definitions(test_${T_NAME} PRIVATE
    LL_SHARED_DIR="${LL_SHARED_DIR}" LL_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
    LL_BINARY_DIR="${CMAKE_BINARY_DIR}")
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  if(CMAKE_CROSSCOMPILING)
    # Discovery would run the target binary at build time; one test per binary instead.
    add_test(NAME test_${T_NAME} COMMAND test_${T_NAME})
    set_tests_properties(test_${T_NAME} PROPERTIES TIMEOUT ${T_TIMEOUT})
  else()
    gtest_discover_tests(test_${T_NAME} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT ${T_TIMEOUT})
  endif()
endfunction()
