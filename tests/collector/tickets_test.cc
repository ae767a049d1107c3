// The ticket layer over a real (in-memory) SQLite store: what a ticket says and how its state
// follows the incident and the technician.
#include "collector/tickets/tickets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/process.h"

namespace medic::collector::tickets {
namespace {

using ::testing::HasSubstr;

TEST(PriorityTest, FromSeverityAndAffectedHosts) {
  struct Row {
    medic::v1::Severity severity;
    size_t hosts;
    uint32_t priority;
  };
  const Row rows[] = {
      {medic::v1::SEVERITY_CRITICAL, 1, 2},   // one machine down: urgent, not an outage
      {medic::v1::SEVERITY_CRITICAL, 3, 1},   // several machines: highest
      {medic::v1::SEVERITY_CRITICAL, 40, 1},  // capped at 1
      {medic::v1::SEVERITY_WARNING, 1, 3},    // one laptop's disk
      {medic::v1::SEVERITY_WARNING, 5, 2},    // a warning for a floor
      {medic::v1::SEVERITY_WARNING, 10, 1},   // … or for a site
      {medic::v1::SEVERITY_INFO, 1, 4},       // lowest
      {medic::v1::SEVERITY_INFO, 12, 3},
  };
  for (const auto& r : rows) {
    EXPECT_EQ(Priority(r.severity, r.hosts), r.priority) << r.severity << " x " << r.hosts;
  }
}

TEST(KnowledgeBaseTest, ShippedEntriesAndItsOwnOverride) {
  auto shipped = KnowledgeBase::Load("");
  ASSERT_TRUE(shipped.ok()) << shipped.status();
  EXPECT_THAT(shipped->Find("net.dns_failure").title_group(), HasSubstr("DNS server"));
  EXPECT_EQ(shipped->Find("no.such_code").code(), "default");

  test::TempDir dir;
  test::WriteFile(dir.File("disk.space_low.yaml"),
                  "code: disk.space_low\ntitle: \"{host}: call extension 4242\"\n"
                  "diagnosis: Our laptops have small disks.\n");
  test::WriteFile(dir.File("app.license_expired.yaml"),
                  "code: app.license_expired\ntitle: \"{host}: licence expired\"\n"
                  "diagnosis: The CAD licence has expired.\n");
  auto extended = KnowledgeBase::Load(dir.path());
  ASSERT_TRUE(extended.ok()) << extended.status();
  EXPECT_EQ(extended->Find("disk.space_low").title(), "{host}: call extension 4242");
  EXPECT_EQ(extended->Find("app.license_expired").diagnosis(), "The CAD licence has expired.");
  EXPECT_EQ(extended->size(), shipped->size() + 1);

  test::WriteFile(dir.File("cpu.overheat.yaml"), "code: cpu.overheat\ntitel: x\n");
  auto bad = KnowledgeBase::Load(dir.path());
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("cpu.overheat.yaml:2"));
  EXPECT_FALSE(KnowledgeBase::Load(dir.File("missing")).ok());
}

// The real store, except that SaveIncident fails while `fail` is set (a full disk, a locked
// database).
class FlakyStore final : public Store {
 public:
  explicit FlakyStore(std::unique_ptr<Store> real) : real_(std::move(real)) {}
  bool fail = false;

  absl::Status SaveIncident(const medic::v1::Incident& incident, const medic::v1::Ticket* ticket,
                            const std::vector<OutboxEvent>& outbox) override {
    if (fail) return absl::UnavailableError("database is locked");
    return real_->SaveIncident(incident, ticket, outbox);
  }
  absl::StatusOr<Session> OpenSession(const medic::v1::Hello& hello, std::string_view peer,
                                      absl::Time now) override {
    return real_->OpenSession(hello, peer, now);
  }
  absl::Status Commit(std::string_view machine_id, uint64_t epoch,
                      const medic::v1::AgentMessage& record, absl::Time now) override {
    return real_->Commit(machine_id, epoch, record, now);
  }
  absl::Status Touch(std::string_view machine_id, absl::Time now) override {
    return real_->Touch(machine_id, now);
  }
  absl::Status CloseSession(std::string_view machine_id, int64_t session, absl::Time now) override {
    return real_->CloseSession(machine_id, session, now);
  }
  absl::Status ResetConnections() override { return real_->ResetConnections(); }
  absl::StatusOr<std::vector<medic::v1::Machine>> ListMachines(
      const medic::v1::ListMachinesRequest& request, absl::Time now) override {
    return real_->ListMachines(request, now);
  }
  absl::StatusOr<medic::v1::MachineHealth> GetMachineHealth(std::string_view host,
                                                            absl::Time now) override {
    return real_->GetMachineHealth(host, now);
  }
  absl::StatusOr<int64_t> PruneHistory(absl::Time cutoff) override {
    return real_->PruneHistory(cutoff);
  }
  absl::Status SaveTicket(const medic::v1::Ticket& ticket,
                          const std::vector<OutboxEvent>& outbox) override {
    return real_->SaveTicket(ticket, outbox);
  }
  absl::StatusOr<std::vector<medic::v1::Incident>> ListIncidents(bool include_resolved) override {
    return real_->ListIncidents(include_resolved);
  }
  absl::StatusOr<std::vector<medic::v1::Ticket>> ListTickets(
      medic::v1::TicketState state) override {
    return real_->ListTickets(state);
  }
  absl::StatusOr<medic::v1::Ticket> GetTicket(std::string_view id) override {
    return real_->GetTicket(id);
  }
  absl::StatusOr<int64_t> HighestIncidentNumber() override {
    return real_->HighestIncidentNumber();
  }
  absl::StatusOr<std::vector<KnownMachine>> KnownMachines() override {
    return real_->KnownMachines();
  }
  absl::StatusOr<std::vector<OutboxItem>> DueOutbox(absl::Time now, int limit) override {
    return real_->DueOutbox(now, limit);
  }
  absl::Status OutboxDelivered(int64_t id, absl::Time now, std::string_view external_ref) override {
    return real_->OutboxDelivered(id, now, external_ref);
  }
  absl::Status OutboxRetry(int64_t id, absl::Time next, std::string_view error) override {
    return real_->OutboxRetry(id, next, error);
  }
  absl::Status OutboxGiveUp(int64_t id, std::string_view error) override {
    return real_->OutboxGiveUp(id, error);
  }
  absl::StatusOr<int64_t> OutboxPending() override { return real_->OutboxPending(); }

 private:
  std::unique_ptr<Store> real_;
};

TEST(TicketsRetryTest, AChangeTheStoreRefusedIsAppliedAgainInOrderOnTheNextCall) {
  common::FakeClock clock;
  FlakyStore store(*OpenSqliteStore(":memory:", {}));
  Tickets tickets(store, clock, *KnowledgeBase::Load(""), OutboundTargets{true, false});
  medic::v1::Incident incident;
  incident.set_incident_id("I-9");
  incident.set_code("net.dns_failure");
  incident.set_resource("10.0.0.53");
  incident.set_scope(medic::v1::SCOPE_RESOURCE);
  incident.set_severity(medic::v1::SEVERITY_CRITICAL);
  for (const char* h : {"ws-1", "ws-2", "ws-3"}) incident.add_hosts(h);
  incident.add_explanation("opened because three hosts");

  store.fail = true;
  tickets.Apply({{engine::ChangeKind::kOpened, incident, {"ws-1", "ws-2", "ws-3"}, {}}});
  EXPECT_FALSE(store.GetTicket("MED-9").ok());
  store.fail = false;
  incident.add_hosts("ws-4");
  tickets.Apply({{engine::ChangeKind::kHostsJoined, incident, {"ws-4"}, {}}});
  auto ticket = store.GetTicket("MED-9");
  ASSERT_TRUE(ticket.ok()) << ticket.status();
  EXPECT_EQ(ticket->hosts_size(), 4);
  // The helpdesk sees a create before the update, not an update of a ticket it never saw.
  EXPECT_EQ(*store.OutboxPending(), 2);
  auto due = store.DueOutbox(clock.Now() + absl::Hours(1), 10);  // a ticket's events in order
  ASSERT_TRUE(due.ok()) << due.status();
  ASSERT_FALSE(due->empty());
  EXPECT_EQ((*due)[0].event.kind, "create");
}

class TicketsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = *OpenSqliteStore(":memory:", {});
    tickets_ = std::make_unique<Tickets>(*store_, clock_, *KnowledgeBase::Load(""),
                                         OutboundTargets{true, false});
    incident_.set_incident_id("I-7");
    incident_.set_code("net.dns_failure");
    incident_.set_resource("10.0.0.53");
    incident_.set_scope(medic::v1::SCOPE_RESOURCE);
    incident_.set_severity(medic::v1::SEVERITY_CRITICAL);
    for (const char* h : {"ws-1", "ws-2", "ws-3"}) incident_.add_hosts(h);
    incident_.add_explanation("opened because three hosts");
  }
  void Change(engine::ChangeKind kind, std::vector<std::string> hosts = {}) {
    tickets_->Apply({engine::IncidentChange{kind, incident_, std::move(hosts), {}}});
  }

  common::FakeClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Tickets> tickets_;
  medic::v1::Incident incident_;
};

TEST_F(TicketsTest, FollowsItsIncidentAndQueuesOneEventPerChange) {
  Change(engine::ChangeKind::kOpened, {"ws-1", "ws-2", "ws-3"});
  auto t = store_->GetTicket("MED-7");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->title(), "DNS server 10.0.0.53 is failing for 3 hosts");
  EXPECT_EQ(t->state(), medic::v1::TICKET_STATE_OPEN);
  EXPECT_EQ(t->priority(), 1u);
  EXPECT_THAT(t->runbook(0), HasSubstr("dig @10.0.0.53"));
  EXPECT_EQ(store_->GetTicket("I-7")->ticket_id(), "MED-7") << "found by incident id too";

  incident_.add_hosts("ws-4");
  Change(engine::ChangeKind::kHostsJoined, {"ws-4"});
  Change(engine::ChangeKind::kUpdated);  // explanation only: no event
  *incident_.mutable_resolved_at() = common::ToProtoTime(clock_.Now());
  Change(engine::ChangeKind::kResolved);
  t = store_->GetTicket("MED-7");
  EXPECT_EQ(t->title(), "DNS server 10.0.0.53 is failing for 4 hosts");
  EXPECT_EQ(t->state(), medic::v1::TICKET_STATE_RESOLVED);
  ASSERT_EQ(t->history_size(), 3);
  EXPECT_EQ(t->history(1).what(), "hosts joined: ws-4");
  EXPECT_EQ(*store_->OutboxPending(), 3);  // create, update, close

  incident_.clear_resolved_at();
  Change(engine::ChangeKind::kReopened, {"ws-2"});
  EXPECT_EQ(store_->GetTicket("MED-7")->state(), medic::v1::TICKET_STATE_OPEN);
  EXPECT_EQ(*store_->OutboxPending(), 4);
}

TEST_F(TicketsTest, TechnicianAcknowledgesThenResolves) {
  Change(engine::ChangeKind::kOpened, {"ws-1"});
  medic::v1::UpdateTicketRequest request;
  request.set_ticket_id("MED-7");
  request.set_state(medic::v1::TICKET_STATE_ACKNOWLEDGED);
  request.set_actor("alice");
  ASSERT_TRUE(tickets_->Update(request).ok());
  EXPECT_EQ(tickets_->Update(request).status().code(), absl::StatusCode::kFailedPrecondition);
  request.set_state(medic::v1::TICKET_STATE_OPEN);
  EXPECT_EQ(tickets_->Update(request).status().code(), absl::StatusCode::kInvalidArgument);
  request.set_state(medic::v1::TICKET_STATE_RESOLVED);
  request.set_note("restarted the resolver");
  auto t = tickets_->Update(request);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->history(t->history_size() - 1).what(), "resolved: restarted the resolver");
  EXPECT_EQ(t->history(t->history_size() - 1).actor(), "alice");
  // The incident then clears: no second close.
  Change(engine::ChangeKind::kResolved);
  EXPECT_EQ(*store_->OutboxPending(), 3);  // create, update (ack), close
  request.set_ticket_id("MED-99");
  EXPECT_EQ(tickets_->Update(request).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace medic::collector::tickets
