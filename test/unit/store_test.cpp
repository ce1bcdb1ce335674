#include "controller/runtime/store.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace envop::runtime {
namespace {

Object object(const std::string& ns, const std::string& name, const std::string& rv) {
  Object o = {{"metadata", {{"name", name}, {"resourceVersion", rv}}}};
  if (!ns.empty()) o["metadata"]["namespace"] = ns;
  return o;
}

Object labelled(const std::string& ns, const std::string& name, const std::string& rv,
                const std::string& owner) {
  Object o = object(ns, name, rv);
  if (!owner.empty()) o["metadata"]["labels"] = {{"owner", owner}, {"other", "x"}};
  return o;
}

std::vector<std::string> keysOf(const std::vector<ObjectPtr>& objects) {
  std::vector<std::string> keys;
  for (const ObjectPtr& o : objects) keys.push_back(*objectKey(*o));
  return keys;
}

TEST(StoreTest, TheLabelIndexFollowsUpsertsRemovesAndRelists) {
  Store store("owner");
  store.upsert(labelled("b", "q", "1", "pro"));
  store.upsert(labelled("a", "q", "1", "pro"));
  store.upsert(labelled("t", "q", "1", "test"));
  store.upsert(labelled("u", "q", "1", ""));
  EXPECT_EQ(keysOf(store.listLabelled("pro")), (std::vector<std::string>{"a/q", "b/q"}));
  EXPECT_EQ(keysOf(store.listLabelled("test")), (std::vector<std::string>{"t/q"}));
  EXPECT_TRUE(store.listLabelled("").empty()) << "an unlabelled object is in no entry";

  // A relabel moves the object; the old value forgets it.
  store.upsert(labelled("b", "q", "2", "test"));
  EXPECT_EQ(keysOf(store.listLabelled("pro")), (std::vector<std::string>{"a/q"}));
  EXPECT_EQ(keysOf(store.listLabelled("test")), (std::vector<std::string>{"b/q", "t/q"}));
  EXPECT_EQ(resourceVersionOf(*store.listLabelled("test").front()), "2");
  store.upsert(labelled("a", "q", "2", ""));
  EXPECT_TRUE(store.listLabelled("pro").empty());

  store.remove(labelled("t", "q", "3", "test"));
  EXPECT_EQ(keysOf(store.listLabelled("test")), (std::vector<std::string>{"b/q"}));

  store.replace({labelled("c", "q", "5", "pro"), labelled("b", "q", "2", "test")});
  EXPECT_EQ(keysOf(store.listLabelled("pro")), (std::vector<std::string>{"c/q"}));
  EXPECT_EQ(keysOf(store.listLabelled("test")), (std::vector<std::string>{"b/q"}));

  Store unindexed;
  unindexed.upsert(labelled("a", "q", "1", "pro"));
  EXPECT_TRUE(unindexed.listLabelled("pro").empty()) << "no index, no answer";
}

TEST(StoreTest, KeysAreNamespaceSlashNameOrJustName) {
  EXPECT_EQ(objectKey(object("ops", "web", "1")), "ops/web");
  EXPECT_EQ(objectKey(object("", "node-1", "1")), "node-1");
  EXPECT_EQ(objectKey(Object{{"metadata", Object::object()}}), std::nullopt);
  EXPECT_EQ(objectKey(Object::array()), std::nullopt);
  EXPECT_EQ(resourceVersionOf(object("a", "b", "42")), "42");
}

TEST(StoreTest, UpsertReportsAddedThenUpdatedWithOldObject) {
  Store store;
  const auto added = store.upsert(object("ops", "web", "1"));
  ASSERT_TRUE(added);
  EXPECT_EQ(added->type, Delta::Type::kAdded);
  EXPECT_EQ(added->key, "ops/web");
  EXPECT_EQ(added->oldObject, nullptr);

  const auto updated = store.upsert(object("ops", "web", "2"));
  ASSERT_TRUE(updated);
  EXPECT_EQ(updated->type, Delta::Type::kUpdated);
  EXPECT_EQ(resourceVersionOf(*updated->oldObject), "1");
  EXPECT_EQ(resourceVersionOf(*updated->object), "2");
  EXPECT_EQ(resourceVersionOf(*store.get("ops/web")), "2");
  EXPECT_EQ(store.size(), 1u);
}

TEST(StoreTest, RemoveReportsFinalStateAndIgnoresUnknownKeys) {
  Store store;
  store.upsert(object("ops", "web", "1"));
  EXPECT_FALSE(store.remove(object("ops", "other", "3")));
  const auto deleted = store.remove(object("ops", "web", "3"));
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->type, Delta::Type::kDeleted);
  EXPECT_EQ(resourceVersionOf(*deleted->object), "3");
  EXPECT_FALSE(deleted->finalStateUnknown);
  EXPECT_EQ(store.get("ops/web"), nullptr);
  EXPECT_EQ(store.size(), 0u);
}

TEST(StoreTest, ListAndKeysAreOrderedByKey) {
  Store store;
  store.upsert(object("b", "x", "1"));
  store.upsert(object("a", "y", "1"));
  store.upsert(object("", "z", "1"));
  EXPECT_EQ(store.keys(), (std::vector<std::string>{"a/y", "b/x", "z"}));
  const auto objects = store.list();
  ASSERT_EQ(objects.size(), 3u);
  EXPECT_EQ((*objects[0])["metadata"]["name"], "y");
}

TEST(StoreTest, ReplaceReportsAddsChangesAndSyntheticDeletes) {
  Store store;
  store.replace(
      {object("ops", "kept", "1"), object("ops", "changed", "1"), object("ops", "vanished", "1")});
  const ObjectPtr kept = store.get("ops/kept");

  const Deltas deltas = store.replace(
      {object("ops", "kept", "1"), object("ops", "changed", "5"), object("ops", "new", "6")});
  ASSERT_EQ(deltas.size(), 3u);
  EXPECT_EQ(deltas[0].type, Delta::Type::kUpdated);
  EXPECT_EQ(deltas[0].key, "ops/changed");
  EXPECT_EQ(resourceVersionOf(*deltas[0].oldObject), "1");
  EXPECT_EQ(resourceVersionOf(*deltas[0].object), "5");
  EXPECT_EQ(deltas[1].type, Delta::Type::kAdded);
  EXPECT_EQ(deltas[1].key, "ops/new");
  EXPECT_EQ(deltas[2].type, Delta::Type::kDeleted);
  EXPECT_EQ(deltas[2].key, "ops/vanished");
  EXPECT_TRUE(deltas[2].finalStateUnknown);
  EXPECT_EQ(resourceVersionOf(*deltas[2].object), "1");  // the last state we knew

  EXPECT_EQ(store.keys(), (std::vector<std::string>{"ops/changed", "ops/kept", "ops/new"}));
  EXPECT_EQ(store.get("ops/kept"), kept);  // unchanged objects keep their identity
}

TEST(StoreTest, ReplaceWithSameResourceVersionsReportsNothing) {
  Store store;
  store.replace({object("ops", "a", "1"), object("", "b", "2")});
  EXPECT_TRUE(store.replace({object("", "b", "2"), object("ops", "a", "1")}).empty());
}

TEST(StoreTest, ObjectsWithoutNameAreSkipped) {
  Store store;
  EXPECT_FALSE(store.upsert(Object{{"metadata", {{"namespace", "ops"}}}}));
  EXPECT_TRUE(store.replace({Object{{"kind", "Pod"}}}).empty());
  EXPECT_EQ(store.size(), 0u);
}

TEST(StoreTest, ReadersOnOtherThreadsSeeWholeObjects) {
  Store store;
  std::thread writer([&store] {
    for (int i = 0; i < 2000; ++i) store.upsert(object("ops", "web", std::to_string(i)));
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&store] {
      for (int i = 0; i < 2000; ++i) {
        if (const ObjectPtr o = store.get("ops/web")) {
          EXPECT_EQ((*o)["metadata"]["name"], "web");
        }
        for (const ObjectPtr& o : store.list()) EXPECT_TRUE(o->contains("metadata"));
      }
    });
  }
  writer.join();
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(resourceVersionOf(*store.get("ops/web")), "1999");
}

}  // namespace
}  // namespace envop::runtime
