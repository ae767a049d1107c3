#pragma once

#include <string>

#include "absl/time/time.h"
#include "medic/v1/fleet.pb.h"
#include "medic/v1/technician.pb.h"

namespace medic::cli {

// Human output of the `medic` CLI. Pure functions of the response and the time, so tests
// compare text. `color` wraps severities and states in ANSI colours (only on a terminal).

// The fleet table: one machine a row, those needing attention first.
std::string RenderMachines(const medic::v1::ListMachinesResponse& response, absl::Time now,
                           bool color);

// One machine: who it is, then its findings (the problem first), then the evidence by area.
std::string RenderHealth(const medic::v1::MachineHealth& health, absl::Time now, bool color);

// Tickets, newest first: one a line.
std::string RenderTickets(const medic::v1::ListTicketsResponse& response, absl::Time now,
                          bool color);
// One ticket: title, state, hosts, diagnosis, runbook, evidence and history.
std::string RenderTicket(const medic::v1::Ticket& ticket, absl::Time now, bool color);
// Incidents with their explanations.
std::string RenderIncidents(const medic::v1::ListIncidentsResponse& response, absl::Time now,
                            bool color);

// "1.5 GiB", "980 MiB", "12 KiB", "512 B".
std::string HumanBytes(uint64_t bytes);

// "4s ago", "3m ago", "2h 5m ago", "never".
std::string Ago(absl::Time then, absl::Time now);

}  // namespace medic::cli
