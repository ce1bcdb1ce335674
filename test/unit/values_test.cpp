#include "controller/environment/values.h"

#include <gtest/gtest.h>

namespace envop::environment {
namespace {

using Json = nlohmann::json;

Json parsed(std::string_view yaml) {
  auto result = parseValuesYaml(yaml, "ConfigMap v key values.yaml");
  if (auto* error = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << *error;
    return nullptr;
  }
  return std::get<Json>(result);
}

std::string errorOf(std::string_view yaml, std::string_view source = "Secret s key values.yaml") {
  auto result = parseValuesYaml(yaml, source);
  if (auto* error = std::get_if<std::string>(&result)) return *error;
  ADD_FAILURE() << "parsed: " << std::get<Json>(result).dump();
  return "";
}

TEST(ValuesMerge, NestedMapsMergeRecursively) {
  const Json base = Json::parse(R"({"global":{"env":"pro","zipkin":{"baseUrl":"a","port":1}}})");
  const Json overlay = Json::parse(R"({"global":{"zipkin":{"baseUrl":"b"}},"replicaCount":3})");
  EXPECT_EQ(mergeValues(base, overlay),
            Json::parse(R"({"global":{"env":"pro","zipkin":{"baseUrl":"b","port":1}},
                            "replicaCount":3})"));
}

TEST(ValuesMerge, ListsAndScalarsReplace) {
  const Json base = Json::parse(R"({"args":["a","b","c"],"image":{"tag":"1"},"n":1})");
  const Json overlay = Json::parse(R"({"args":["z"],"image":"flat","n":"one"})");
  EXPECT_EQ(mergeValues(base, overlay), overlay);
  // A map over a scalar replaces it too.
  EXPECT_EQ(mergeValues(Json{{"a", 1}}, Json{{"a", {{"b", 2}}}}), (Json{{"a", {{"b", 2}}}}));
}

TEST(ValuesMerge, NullDeletesTheKeyAndStaysAsHelmsTombstone) {
  const Json base = Json::parse(R"({"resources":{"limits":{"cpu":1}},"keep":true})");
  const Json overlay = Json::parse(R"({"resources":null})");
  const Json merged = mergeValues(base, overlay);
  // Kept as null so Helm also drops the chart's own default for the key.
  EXPECT_EQ(merged, Json::parse(R"({"resources":null,"keep":true})"));
  EXPECT_EQ(stripNulls(merged), Json::parse(R"({"keep":true})"));
  // Nested: only the nulled key goes.
  EXPECT_EQ(stripNulls(mergeValues(Json::parse(R"({"a":{"b":1,"c":2}})"),
                                   Json::parse(R"({"a":{"b":null}})"))),
            Json::parse(R"({"a":{"c":2}})"));
  // A later layer can bring the key back.
  EXPECT_EQ(mergeAll({base, overlay, Json::parse(R"({"resources":{"limits":{"cpu":2}}})")}),
            Json::parse(R"({"resources":{"limits":{"cpu":2}},"keep":true})"));
}

TEST(ValuesMerge, InputsAreNotModifiedAndNullLayerIsNoLayer) {
  const Json base = Json::parse(R"({"a":{"b":1}})");
  const Json copy = base;
  EXPECT_EQ(mergeValues(base, nullptr), base);
  (void)mergeValues(base, Json::parse(R"({"a":{"c":2}})"));
  EXPECT_EQ(base, copy);
  EXPECT_EQ(mergeAll({}), Json::object());
}

TEST(ValuesMerge, SpecValuesUnderValuesFromInOrderUnderReleaseValues) {
  const Json spec = Json::parse(R"({"global":{"env":"pro"},"a":"spec","b":"spec","c":"spec",
                                    "d":"spec"})");
  const Json first = Json::parse(R"({"a":"first","b":"first","c":"first"})");
  const Json second = Json::parse(R"({"b":"second","c":"second"})");
  const Json release = Json::parse(R"({"c":"release"})");
  EXPECT_EQ(mergeReleaseValues(spec, {first, second}, release),
            Json::parse(R"({"global":{"env":"pro"},"a":"first","b":"second","c":"release",
                            "d":"spec"})"));
  EXPECT_EQ(mergeReleaseValues(spec, {first, second}, release),
            mergeAll({spec, first, second, release}));
  EXPECT_EQ(mergeReleaseValues(Json::object(), {}, Json::object()), Json::object());
}

TEST(ValuesYaml, ScalarTypesResolveAsHelmDoes) {
  const Json v = parsed(R"(
int: 42
negative: -7
hex: 0x1F
octal: 0o17
underscored: 1_000
big: 18446744073709551615
float: 1.5
exp: 1e3
versionLike: 1.10
bool: true
yaml11: yes
off: off
null1: ~
null2: null
empty:
string: hello world
quoted: "42"
single: 'true'
quotedNull: "null"
explicitStr: !!str 7
block: |
  line one
  line two
list: [1, "2", three]
nested: {a: {b: [x, {c: false}]}}
)");
  EXPECT_EQ(v["int"], Json(42));
  EXPECT_TRUE(v["int"].is_number_integer());
  EXPECT_EQ(v["negative"], Json(-7));
  EXPECT_EQ(v["hex"], Json(31));
  EXPECT_EQ(v["octal"], Json(15));
  EXPECT_EQ(v["underscored"], Json(1000));
  EXPECT_TRUE(v["big"].is_number_unsigned());
  EXPECT_EQ(v["float"], Json(1.5));
  EXPECT_TRUE(v["exp"].is_number_float());
  EXPECT_EQ(v["exp"], Json(1000.0));
  EXPECT_EQ(v["versionLike"], Json(1.1));  // as in Helm: quote versions
  EXPECT_EQ(v["bool"], Json(true));
  EXPECT_EQ(v["yaml11"], Json(true));
  EXPECT_EQ(v["off"], Json(false));
  EXPECT_TRUE(v["null1"].is_null());
  EXPECT_TRUE(v["null2"].is_null());
  EXPECT_TRUE(v.contains("empty") && v["empty"].is_null());
  EXPECT_EQ(v["string"], Json("hello world"));
  EXPECT_EQ(v["quoted"], Json("42"));
  EXPECT_EQ(v["single"], Json("true"));
  EXPECT_EQ(v["quotedNull"], Json("null"));
  EXPECT_EQ(v["explicitStr"], Json("7"));
  EXPECT_EQ(v["block"], Json("line one\nline two\n"));
  EXPECT_EQ(v["list"], Json::parse(R"([1,"2","three"])"));
  EXPECT_EQ(v["nested"], Json::parse(R"({"a":{"b":["x",{"c":false}]}})"));
}

TEST(ValuesYaml, NumberLookalikesStayStrings) {
  const Json v = parsed("a: 1.2.3\nb: 0x\nc: 12abc\nd: +\ne: v1\nf: 1e\n");
  for (const char* key : {"a", "b", "c", "d", "e", "f"}) {
    EXPECT_TRUE(v[key].is_string()) << key << " = " << v[key].dump();
  }
}

TEST(ValuesYaml, EmptyDocumentIsAnEmptyMap) {
  EXPECT_EQ(parsed(""), Json::object());
  EXPECT_EQ(parsed("# only a comment\n"), Json::object());
}

TEST(ValuesYaml, AliasesExpand) {
  EXPECT_EQ(parsed("base: &b {x: 1}\ncopy: *b\n"),
            Json::parse(R"({"base":{"x":1},"copy":{"x":1}})"));
}

TEST(ValuesYaml, NonMapDocumentIsAnErrorNamingTheSource) {
  for (const char* doc : {"- a\n- b\n", "just-a-string\n", "42\n"}) {
    const std::string error = errorOf(doc, "ConfigMap gateway-values key values.yaml");
    EXPECT_NE(error.find("ConfigMap gateway-values key values.yaml"), std::string::npos) << error;
    EXPECT_NE(error.find("must be a map"), std::string::npos) << error;
  }
}

TEST(ValuesYaml, ErrorsNeverEchoTheContent) {
  const std::string secret = "s3cr3t-P4ssw0rd";
  const std::vector<std::string> docs = {
      "password: \"" + secret + "\\q\"\n",      // bad escape: yaml-cpp appends the character
      "password: " + secret + "\n  bad: [\n",   // structural error
      "password: [" + secret + "\n",            // unterminated flow
      "password: " + secret + "\nnan: .nan\n",  // unsupported scalar
      "? [" + secret + "]\n: 1\n",              // non-scalar key
      "- " + secret + "\n",                     // not a map
  };
  for (const std::string& doc : docs) {
    const std::string error = errorOf(doc);
    EXPECT_EQ(error.find(secret), std::string::npos) << error;
    EXPECT_EQ(error.find("s3cr3t"), std::string::npos) << error;
    EXPECT_NE(error.find("Secret s key values.yaml"), std::string::npos) << error;
  }
}

TEST(ValuesYaml, InvalidYamlErrorCarriesTheLine) {
  const std::string error = errorOf("a: 1\nb: [1, 2\n");
  EXPECT_NE(error.find("invalid YAML"), std::string::npos) << error;
  EXPECT_NE(error.find("line"), std::string::npos) << error;
}

TEST(ValuesYaml, NonFiniteNumbersAreRejected) {
  for (const char* doc : {"x: .nan\n", "x: .inf\n", "x: -.Inf\n", "x: {y: +.INF}\n"}) {
    const std::string error = errorOf(doc);
    EXPECT_NE(error.find("NaN and infinite"), std::string::npos) << doc << ": " << error;
  }
  EXPECT_EQ(parsed("x: \".nan\"\n")["x"], Json(".nan"));
}

TEST(ValuesYaml, InvalidUtf8IsRejectedWithoutEcho) {
  const std::string error = errorOf("x: \"ab\xff\xfe\"\n");
  EXPECT_NE(error.find("UTF-8"), std::string::npos) << error;
}

// Found by test/fuzz/values_fuzzer: yaml-cpp 0.7's LoadAll never returns on a flow collection
// followed by a stray ',' (one empty document after another, until memory runs out), so a chart
// rendering such a manifest hung a reconcile worker. It is invalid YAML, and says so at once.
TEST(YamlDocuments, AStreamTheParserCannotFinishIsAnErrorNotAHang) {
  for (const char* text : {"{\"resourcesits\":{\"cpu\":1}},\"keep\",\"keep\":true}", "{a: 1},",
                           "[1, 2],\n", "---\n{a: 1},\n---\nb: 2\n"}) {
    const auto docs = parseYamlDocuments(text, "manifest of release web");
    ASSERT_TRUE(std::holds_alternative<std::string>(docs)) << text;
    const std::string& error = std::get<std::string>(docs);
    EXPECT_NE(error.find("manifest of release web: invalid YAML"), std::string::npos) << error;
  }
  // Streams of several documents, with markers and without a final newline, still load.
  const auto docs = parseYamlDocuments("---\na: 1\n---\n{b: 2}\n...\n---\nc: [3]", "m");
  ASSERT_TRUE(std::holds_alternative<std::vector<Json>>(docs)) << std::get<std::string>(docs);
  EXPECT_EQ(std::get<std::vector<Json>>(docs).size(), 3u);
}

}  // namespace
}  // namespace envop::environment
