// Central policy in the collector: which groups' policies a machine takes, in which order,
// and how a canary advances or rolls back. In-process, on an in-memory SQLite store.

#include "collector/policy/policy_hub.h"

#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace medic::collector {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(SubnetWithinTest, Table) {
  struct Case {
    const char* subnet;
    const char* cidr;
    bool within;
  };
  const Case cases[] = {
      {"10.1.2.0/24", "10.1.0.0/16", true},    // inside
      {"10.1.0.0/16", "10.1.0.0/16", true},    // the same network
      {"10.2.2.0/24", "10.1.0.0/16", false},   // beside it
      {"10.0.0.0/8", "10.1.0.0/16", false},    // wider than the group
      {"10.1.2.0/24", "0.0.0.0/0", true},      // everything
      {"fd00:1:2::/64", "fd00:1::/32", true},  // IPv6
      {"fd00:1:2::/64", "10.0.0.0/8", false},  // another family
      {"10.1.2.0", "10.0.0.0/8", false},       // no prefix length
      {"10.1.2.0/24", "10.0.0.0/40", false},   // a prefix too long for IPv4
  };
  for (const Case& c : cases) {
    EXPECT_EQ(SubnetWithin(c.subnet, c.cidr), c.within) << c.subnet << " in " << c.cidr;
  }
}

class PolicyHubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenSqliteStore(":memory:", StoreOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    hub_ = std::make_unique<PolicyHub>(*store_, clock_);
    ASSERT_TRUE(hub_->Load().ok());
    hub_->SetSender([this](const std::string& id, medic::v1::CollectorMessage m) {
      sent_[id].push_back(m.policy());
      return true;
    });
  }

  medic::v1::Policy Hello(const std::string& id, const std::string& site,
                          std::vector<std::string> labels, std::vector<std::string> subnets) {
    medic::v1::Hello hello;
    hello.set_machine_id(id);
    hello.set_hostname(id);
    for (auto& l : labels) hello.add_labels(l);
    medic::v1::Policy p = hub_->OnHello(id, hello);
    medic::v1::Topology topology;
    topology.set_site(site);
    for (auto& s : subnets) topology.add_subnets(s);
    hub_->OnTopology(id, topology);
    return sent_[id].empty() ? p : sent_[id].back();
  }

  void Set(medic::v1::PolicyScope scope, const std::string& group, const std::string& yaml,
           uint32_t canary = 0) {
    medic::v1::SetPolicyRequest request;
    request.set_scope(scope);
    request.set_group(group);
    request.set_yaml(yaml);
    request.set_canary_percent(canary);
    auto response = hub_->Set(request);
    ASSERT_TRUE(response.ok()) << response.status();
  }

  common::FakeClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<PolicyHub> hub_;
  std::map<std::string, std::vector<medic::v1::Policy>> sent_;
};

TEST_F(PolicyHubTest, MoreSpecificGroupsMergeLastAndWin) {
  Set(medic::v1::POLICY_SCOPE_HOST, "ws-1", "probes: {cpu: {interval: 5s}}\n");
  Set(medic::v1::POLICY_SCOPE_LABEL, "sales", "probes: {cpu: {interval: 4s}}\n");
  Set(medic::v1::POLICY_SCOPE_SUBNET, "10.1.2.0/24", "probes: {cpu: {interval: 3s}}\n");
  Set(medic::v1::POLICY_SCOPE_SUBNET, "10.0.0.0/8", "probes: {cpu: {interval: 2s}}\n");
  Set(medic::v1::POLICY_SCOPE_SITE, "hq", "probes: {cpu: {interval: 1s}}\n");
  Set(medic::v1::POLICY_SCOPE_ALL, "", "probes: {cpu: {interval: 9s}, memory: {interval: 9s}}\n");
  medic::v1::Policy p = Hello("ws-1", "hq", {"sales"}, {"10.1.2.0/24"});
  EXPECT_EQ(p.version(),
            "all@1,site=hq@1,subnet=10.0.0.0/8@1,subnet=10.1.2.0/24@1,label=sales@1,host=ws-1@1");
  EXPECT_EQ(p.config().probes().cpu().interval().seconds(), 5);
  EXPECT_EQ(p.config().probes().memory().interval().seconds(), 9);
  // Another machine of the site only.
  medic::v1::Policy q = Hello("ws-2", "hq", {}, {"192.168.0.0/24"});
  EXPECT_EQ(q.version(), "all@1,site=hq@1");
  EXPECT_EQ(q.config().probes().cpu().interval().seconds(), 1);
  // A change reaches only the machines it concerns.
  sent_.clear();
  Set(medic::v1::POLICY_SCOPE_LABEL, "sales", "probes: {cpu: {interval: 6s}}\n");
  ASSERT_EQ(sent_["ws-1"].size(), 1u);
  EXPECT_THAT(sent_["ws-1"][0].version(), HasSubstr("label=sales@2"));
  EXPECT_TRUE(sent_["ws-2"].empty());
}

TEST_F(PolicyHubTest, BadYamlAndLocalOnlySettingsAreRefusedWhenSet) {
  medic::v1::SetPolicyRequest request;
  request.set_scope(medic::v1::POLICY_SCOPE_ALL);
  request.set_yaml("probes: {cpu: {intervall: 5s}}\n");
  auto bad = hub_->Set(request);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("policy all:1"));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("did you mean 'interval'"));
  request.set_yaml("collector: elsewhere:7070\n");
  auto local_only = hub_->Set(request);
  ASSERT_FALSE(local_only.ok());
  EXPECT_THAT(std::string(local_only.status().message()), HasSubstr("never by policy"));
}

TEST_F(PolicyHubTest, CanaryPromotesWhenCleanAndRollsBackOnError) {
  for (const char* id : {"a", "b", "c", "d"}) Hello(id, "hq", {}, {});
  Set(medic::v1::POLICY_SCOPE_SITE, "hq", "probes: {cpu: {interval: 9s}}\n");
  Set(medic::v1::POLICY_SCOPE_SITE, "hq", "probes: {cpu: {interval: 8s}}\n", /*canary=*/50);
  auto list = hub_->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->policies(0).canary().machine_ids_size(), 2);  // 50% of 4
  EXPECT_EQ(list->policies(0).revision(), 1u);
  const std::string first = list->policies(0).canary().machine_ids(0);
  const std::string second = list->policies(0).canary().machine_ids(1);
  EXPECT_EQ(sent_[first].back().version(), "site=hq@2");
  medic::v1::PolicyApplied ok;
  ok.set_policy_version("site=hq@2");
  hub_->OnPolicyApplied(first, ok);
  EXPECT_TRUE(hub_->List()->policies(0).has_canary());  // one of two so far
  hub_->OnPolicyApplied(second, ok);
  list = hub_->List();
  EXPECT_FALSE(list->policies(0).has_canary());
  EXPECT_EQ(list->policies(0).revision(), 2u);  // the whole site now
  for (const char* id : {"a", "b", "c", "d"}) EXPECT_EQ(sent_[id].back().version(), "site=hq@2");

  Set(medic::v1::POLICY_SCOPE_SITE, "hq", "probes: {cpu: {interval: 7s}}\n", /*canary=*/25);
  const std::string canary = hub_->List()->policies(0).canary().machine_ids(0);
  medic::v1::PolicyApplied refused;
  refused.set_policy_version("site=hq@3");
  refused.add_errors("probes.cpu.interval: forbidden here by policy_guard.forbid (probes)");
  hub_->OnPolicyApplied(canary, refused);
  list = hub_->List();
  EXPECT_FALSE(list->policies(0).has_canary());
  EXPECT_EQ(list->policies(0).revision(), 2u);
  EXPECT_THAT(list->rollbacks(), ElementsAre(HasSubstr("rolled back site=hq@3: " + canary)));
  EXPECT_EQ(sent_[canary].back().version(), "site=hq@2");
  // The rolled-back number is not given again.
  Set(medic::v1::POLICY_SCOPE_SITE, "hq", "probes: {cpu: {interval: 6s}}\n");
  EXPECT_EQ(hub_->List()->policies(0).revision(), 4u);
}

}  // namespace
}  // namespace medic::collector
