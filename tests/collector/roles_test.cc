// The role table: every TechnicianService rpc has a role, so none is open by omission, and the
// roles are the ones the README promises.

#include "collector/security/security.h"
#include "gtest/gtest.h"
#include "medic/v1/technician.pb.h"

namespace medic::collector {
namespace {

TEST(RolesTest, EveryTechnicianRpcHasARole) {
  const google::protobuf::ServiceDescriptor* service =
      medic::v1::ListMachinesRequest::descriptor()->file()->FindServiceByName("TechnicianService");
  ASSERT_NE(service, nullptr);
  for (int i = 0; i < service->method_count(); ++i) {
    const std::string& name = service->method(i)->name();
    EXPECT_TRUE(RequiredRole(name).has_value())
        << name
        << " has no role in RequiredRole (collector/security/security.cc): it would be "
           "refused to everyone";
  }
  EXPECT_FALSE(RequiredRole("NoSuchRpc").has_value());
}

TEST(RolesTest, ReadsDiagnosticsAndAdministrationNeedTheirRoles) {
  // Each row: an rpc and the least role that may call it.
  struct Case {
    const char* method;
    medic::v1::Role role;
  } cases[] = {
      {"ListMachines", medic::v1::ROLE_VIEWER},
      {"GetTicket", medic::v1::ROLE_VIEWER},
      {"UpdateTicket", medic::v1::ROLE_TECHNICIAN},
      {"RunDiagnostic", medic::v1::ROLE_TECHNICIAN},
      {"CreateApiToken", medic::v1::ROLE_ADMIN},
      {"RevokeAgent", medic::v1::ROLE_ADMIN},
      {"CreateEnrollmentToken", medic::v1::ROLE_ADMIN},
      {"ListAudit", medic::v1::ROLE_ADMIN},
  };
  for (const Case& c : cases) EXPECT_EQ(RequiredRole(c.method), c.role) << c.method;
}

}  // namespace
}  // namespace medic::collector
