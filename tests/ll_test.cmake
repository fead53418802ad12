# ll_test(NAME name LIBS ... [LABEL unit|e2e|slow] [TIMEOUT s] [RESOURCE_LOCK name]
#         [SLOW_SOURCES a_test.cpp ...]):
# builds tests/<dir>/*_test.cpp into test_<name>, one ctest test per gtest case.
#   LABEL          ctest label of every case (default unit): `ctest -L unit` is the quick
#                  in-process suite, `-L e2e` starts real processes, `-L slow` takes minutes.
#   RESOURCE_LOCK  cases that hold the named resource never run at the same time (tests that
#                  start several processes share the machine's two cores).
#   SLOW_SOURCES   these files go into a second binary test_<name>_slow, labelled slow.
function(ll_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT;LABEL;RESOURCE_LOCK" "LIBS;SLOW_SOURCES" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cpp)
  if(NOT srcs)
    return()
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  if(NOT T_LABEL)
    set(T_LABEL unit)
  endif()
  set(slow "")
  foreach(s ${T_SLOW_SOURCES})
    list(REMOVE_ITEM srcs ${CMAKE_CURRENT_SOURCE_DIR}/${s})
    list(APPEND slow ${CMAKE_CURRENT_SOURCE_DIR}/${s})
  endforeach()
  ll_test_binary(test_${T_NAME} "${srcs}" "${T_LIBS}" ${T_TIMEOUT} ${T_LABEL} "${T_RESOURCE_LOCK}")
  if(slow)
    ll_test_binary(test_${T_NAME}_slow "${slow}" "${T_LIBS}" ${T_TIMEOUT} slow
                   "${T_RESOURCE_LOCK}")
  endif()
endfunction()

function(ll_test_binary target srcs libs timeout label lock)
  add_executable(${target} ${srcs})
  target_link_libraries(${target} PRIVATE ${libs} GTest::gtest GTest::gtest_main)
  target_include_directories(${target} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
  target_compile_definitions(${target} PRIVATE
    LL_SHARED_DIR="${LL_SHARED_DIR}" LL_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
    LL_BINARY_DIR="${CMAKE_BINARY_DIR}")
  set(props TIMEOUT ${timeout} LABELS ${label})
  if(lock)
    list(APPEND props RESOURCE_LOCK ${lock})
  endif()
  if(CMAKE_CROSSCOMPILING)
    # Discovery would run the target binary at build time; one test per binary instead.
    add_test(NAME ${target} COMMAND ${target})
    set_tests_properties(${target} PROPERTIES ${props})
  else()
    gtest_discover_tests(${target} DISCOVERY_TIMEOUT 60 PROPERTIES ${props})
  endif()
endfunction()
