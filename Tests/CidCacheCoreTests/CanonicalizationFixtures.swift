/// Input and expected output pairs of the json-canonicalization test data
/// (cyberphone/json-canonicalization, `testdata/input` and `testdata/output`),
/// the reference vectors RFC 8785 points to, embedded as literals.
enum CanonicalizationFixtures {
    struct Fixture {
        let name: String
        let input: String
        let output: String
    }

    static let all: [Fixture] = [
        Fixture(
            name: "arrays",
            input: """
            [
              56,
              {
                "d": true,
                "10": null,
                "1": [ ]
              }
            ]
            """,
            output: #"[56,{"1":[],"10":null,"d":true}]"#),
        Fixture(
            name: "french",
            input: """
            {
              "peach": "This sorting order",
              "péché": "is wrong according to French",
              "pêche": "but canonicalization MUST",
              "sin":   "ingnore locale"
            }

            """,
            output: #"{"peach":"This sorting order","péché":"is wrong according to French","pêche":"but canonicalization MUST","sin":"ingnore locale"}"#),
        Fixture(
            name: "structures",
            input: #"""
            {
              "1": {"f": {"f": "hi","F": 5} ,"\n": 56.0},
              "10": { },
              "": "empty",
              "a": { },
              "111": [ { } ],
              "A": { }
            }
            """#,
            output: #"{"":"empty","1":{"\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{}}"#),
        Fixture(
            name: "unicode",
            input: #"""
            {
              "Unnormalized Unicode":"\u1e0d\u0307"
            }

            """#,
            output: "{\"Unnormalized Unicode\":\"\u{1E0D}\u{307}\"}"),
        Fixture(
            name: "values",
            input: #"""
            {
              "numbers": [1E30, 4.50, 333333333.33333329, 2e-3, 0.000000000000000000000000001],
              "escaping": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
              "literals": [null, true, false]
            }
            """#,
            output: #"{"escaping":"€$\u000f\nA'B\"\\\\\"/","literals":[null,true,false],"numbers":[1e+30,4.5,333333333.3333333,0.002,1e-27]}"#),
        Fixture(
            name: "weird",
            input: #"""
            {
              "\u20ac": "Euro Sign",
              "1": "One",
              "\u0080": "Control\u007f",
              "\ud83d\ude02": "Smiley",
              "\u00f6": "Latin Small Letter O With Diaeresis",
              "\ufb33": "Hebrew Letter Dalet With Dagesh",
              "</script>": "Browser Challenge"
            }

            """#,
            output: "{\"1\":\"One\",\"</script>\":\"Browser Challenge\",\"\u{80}\":\"Control\u{7F}\","
                + "\"ö\":\"Latin Small Letter O With Diaeresis\",\"€\":\"Euro Sign\",\"😂\":\"Smiley\","
                + "\"\u{FB33}\":\"Hebrew Letter Dalet With Dagesh\"}"),
        Fixture(
            name: "simpleString",
            input: #"    "this is a test string 1235""#,
            output: #""this is a test string 1235""#),
    ]
}
