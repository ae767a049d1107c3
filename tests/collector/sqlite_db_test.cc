// SqliteDb hands statements back for reuse: a reused statement must behave like a fresh one.

#include "collector/store/sqlite_db.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"

namespace medic::collector {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<SqliteDb> OpenWithRows(const std::string& path) {
  auto db = SqliteDb::Open(path);
  EXPECT_TRUE(db.ok()) << db.status();
  EXPECT_TRUE((*db)
                  ->Exec("CREATE TABLE t (k INTEGER, v TEXT); INSERT INTO t VALUES (1, 'a'); "
                         "INSERT INTO t VALUES (2, 'b');")
                  .ok());
  return *std::move(db);
}

constexpr std::string_view kSelect = "SELECT v FROM t WHERE k = ?";

TEST(SqliteDbTest, TwoLiveStatementsOfTheSameSqlAreIndependent) {
  test::TempDir dir;
  auto db = OpenWithRows(dir.File("db"));
  auto outer = db->Prepare(kSelect);
  ASSERT_TRUE(outer.ok());
  (*outer)->Bind(1, int64_t{1});
  ASSERT_TRUE(*(*outer)->Step());
  {
    auto inner = db->Prepare(kSelect);  // while `outer` is still on its row
    ASSERT_TRUE(inner.ok());
    (*inner)->Bind(1, int64_t{2});
    ASSERT_TRUE(*(*inner)->Step());
    EXPECT_EQ((*inner)->ColumnText(0), "b");
  }
  EXPECT_EQ((*outer)->ColumnText(0), "a");
}

TEST(SqliteDbTest, AReusedStatementStartsOverWithoutTheOldBindings) {
  test::TempDir dir;
  auto db = OpenWithRows(dir.File("db"));
  {
    auto first = db->Prepare(kSelect);
    ASSERT_TRUE(first.ok());
    (*first)->Bind(1, int64_t{1});
    ASSERT_TRUE(*(*first)->Step());  // left on its row: handed back mid-way
  }
  auto again = db->Prepare(kSelect);
  ASSERT_TRUE(again.ok());
  // Unbound, k = NULL matches nothing; a leftover binding would find 'a'.
  EXPECT_FALSE(*(*again)->Step());
  (*again)->Reset();
  (*again)->Bind(1, int64_t{2});
  ASSERT_TRUE(*(*again)->Step());
  EXPECT_EQ((*again)->ColumnText(0), "b");
}

TEST(SqliteDbTest, ExecRunsEveryStatementAndRunsOneAgainFromTheCache) {
  test::TempDir dir;
  auto db = OpenWithRows(dir.File("db"));
  ASSERT_TRUE(db->Exec("INSERT INTO t VALUES (3, 'c'); INSERT INTO t VALUES (4, 'd');").ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(db->Exec("INSERT INTO t VALUES (5, 'e')").ok());
  auto count = db->Prepare("SELECT count(*) FROM t");
  ASSERT_TRUE(count.ok());
  ASSERT_TRUE(*(*count)->Step());
  EXPECT_EQ((*count)->ColumnInt(0), 7);
}

TEST(SqliteDbTest, ExecErrorsNameTheFileAndTheProblem) {
  test::TempDir dir;
  auto db = OpenWithRows(dir.File("db"));
  absl::Status single = db->Exec("INSERT INTO missing VALUES (1)");
  EXPECT_FALSE(single.ok());
  EXPECT_THAT(single.message(), HasSubstr(dir.File("db")));
  EXPECT_THAT(single.message(), HasSubstr("no such table: missing"));
  absl::Status many = db->Exec("INSERT INTO t VALUES (9, 'z'); INSERT INTO missing VALUES (1);");
  EXPECT_FALSE(many.ok());
  EXPECT_THAT(many.message(), HasSubstr(dir.File("db")));
  EXPECT_THAT(many.message(), HasSubstr("no such table: missing"));
}

}  // namespace
}  // namespace medic::collector
