#pragma once

// RETURN_IF_ERROR and ASSIGN_OR_RETURN, the usual names; abseil 2022 ships neither.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define MEDIC_STATUS_CONCAT_INNER(a, b) a##b
#define MEDIC_STATUS_CONCAT(a, b) MEDIC_STATUS_CONCAT_INNER(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define RETURN_IF_ERROR(expr)                                       \
  do {                                                              \
    if (absl::Status _medic_status = (expr); !_medic_status.ok()) { \
      return _medic_status;                                         \
    }                                                               \
  } while (false)

// ASSIGN_OR_RETURN(T value, StatusOr-expression): declares/assigns `value`, or returns the error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  MEDIC_ASSIGN_OR_RETURN_IMPL(MEDIC_STATUS_CONCAT(_medic_statusor_, __LINE__), lhs, expr)

#define MEDIC_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                                \
  if (!statusor.ok()) {                                  \
    return std::move(statusor).status();                 \
  }                                                      \
  lhs = std::move(statusor).value()
