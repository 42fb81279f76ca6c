//! Table-driven tests of the binding language: every operator and method, precedence, Groovy
//! truth, null handling, Java's substring bounds, parse errors with their offsets, limits.

use super::*;

/// `account.*` and `user.*` bound (some columns missing), `task.*` not bound at all.
struct Fixture;

impl Bindings for Fixture {
    fn lookup(&self, path: &[String]) -> Lookup {
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        let value = |text: &str| Lookup::Value(text.to_string());
        match path.as_slice() {
            ["USERNAME"] => value("svc"),
            ["account", "name"] => value("Jane.Doe"),
            ["account", "padded"] => value(" \t hi \n"),
            ["account", "empty"] => value(""),
            ["account", "zero"] => value("0"),
            ["account", "special"] => value(r#"a&b<c>d"e'f"#),
            ["account", _] => Lookup::Missing,
            ["user", "firstname"] => value("Jane"),
            ["user", "lastname"] => value("Doe"),
            ["user", _] => Lookup::Missing,
            _ => Lookup::Unbound,
        }
    }
}

fn eval(text: &str) -> Result<Value, String> {
    let expr = Expr::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"));
    expr.eval(&Fixture)
}

fn s(text: &str) -> Value {
    Value::Str(text.to_string())
}

const T: Value = Value::Bool(true);
const F: Value = Value::Bool(false);
const NULL: Value = Value::Null;

fn check_values(cases: &[(&str, Value)]) {
    for (text, expected) in cases {
        assert_eq!(eval(text).as_ref(), Ok(expected), "{text}");
        // Printing parses back to the same expression.
        let expr = Expr::parse(text).unwrap();
        assert_eq!(
            Expr::parse(&expr.to_string()),
            Ok(expr.clone()),
            "{text} → {expr}"
        );
    }
}

#[test]
fn literals() {
    check_values(&[
        ("'a'", s("a")),
        ("\"b\"", s("b")),
        ("''", s("")),
        (r"'it\'s'", s("it's")),
        (r#""say \"hi\"""#, s("say \"hi\"")),
        (r#"'mixed "quotes"'"#, s("mixed \"quotes\"")),
        (r#""it's""#, s("it's")),
        (r"'a\\b'", s("a\\b")),
        (r"'\n\t\r'", s("\n\t\r")),
        (r"'\$x'", s("$x")),
        (r#""\$x""#, s("$x")),
        ("'$x'", s("$x")),
        ("'}{'", s("}{")),
        ("'é ü'", s("é ü")),
        ("42", Value::Int(42)),
        ("0", Value::Int(0)),
        ("9223372036854775807", Value::Int(i64::MAX)),
        ("null", NULL),
        ("true", T),
        ("false", F),
        ("(('x'))", s("x")),
        (" \n 'spaced' \t ", s("spaced")),
    ]);
}

#[test]
fn property_paths() {
    check_values(&[
        ("USERNAME", s("svc")),
        ("account.name", s("Jane.Doe")),
        ("account?.name", s("Jane.Doe")),
        ("account.email", NULL),
        ("account?.email", NULL),
        ("user.firstname", s("Jane")),
        ("(account).name", s("Jane.Doe")),
    ]);
    assert_eq!(eval("task.id"), Err("`task.id` is not bound here".into()));
    assert_eq!(eval("task?.id"), Err("`task.id` is not bound here".into()));
    assert_eq!(
        eval("task.id?.trim()"),
        Err("`task.id` is not bound here".into())
    );
    assert_eq!(eval("nothing"), Err("`nothing` is not bound here".into()));
}

#[test]
fn plus_concatenates_or_adds() {
    check_values(&[
        ("'a' + 'b'", s("ab")),
        ("1 + 2", Value::Int(3)),
        ("1 + 2 + 'x'", s("3x")),
        ("'x' + 1 + 2", s("x12")),
        ("'x' + (1 + 2)", s("x3")),
        ("user.firstname + ' ' + user.lastname", s("Jane Doe")),
        ("'a' + true", s("atrue")),
        ("account.name.length() + 1", Value::Int(9)),
        ("'n=' + account.name.length()", s("n=8")),
        // Null adds nothing (Groovy would write "null").
        ("account.email + 'x'", s("x")),
        ("'x' + account.email", s("x")),
        ("account.email + account.email", s("")),
        ("null + 1", s("1")),
        ("'a' + null + 'b'", s("ab")),
    ]);
    assert_eq!(
        eval("9223372036854775807 + 1"),
        Err("`9223372036854775807 + 1`: 9223372036854775807 + 1 overflows a 64-bit integer".into())
    );
    // Accepted when parsed (it may be 1 + 1), refused when it is `true + 1`.
    assert_eq!(eval("(account.email ? true : 1) + 1"), Ok(Value::Int(2)));
    assert_eq!(
        eval("(account.name ? true : 1) + 1"),
        Err(
            "`(account.name ? true : 1) + 1`: cannot add `true` and `1`: `+` adds integers or \
             concatenates to a string"
                .into()
        )
    );
}

#[test]
fn groovy_equality() {
    check_values(&[
        ("null == null", T),
        ("account.email == null", T),
        ("null == account.email", T),
        ("account.email == ''", F),
        ("account.empty == ''", T),
        ("account.name == 'Jane.Doe'", T),
        ("account.name == 'jane.doe'", F),
        ("account.name != 'Jane.Doe'", F),
        ("account.email != null", F),
        ("'1' == 1", F),
        ("'1' != 1", T),
        ("1 == 1", T),
        ("1 != 2", T),
        ("true == true", T),
        ("true == 'true'", F),
        ("0 == false", F),
        // Left-associative: ('a' == 'a') == true.
        ("'a' == 'a' == true", T),
        ("'a' == 'b' != true", T),
        // `+` binds tighter than `==`.
        ("1 + 1 == 2", T),
        ("'a' + 'b' == 'ab'", T),
        ("account.zero == 0", F),
    ]);
}

#[test]
fn logic_and_groovy_truth() {
    check_values(&[
        ("true && true", T),
        ("true && false", F),
        ("false || true", T),
        ("false || false", F),
        ("!true", F),
        ("!false", T),
        // Groovy truth: null, "", 0 and false are false.
        ("!null", T),
        ("!''", T),
        ("!'x'", F),
        ("!' '", F),
        ("!0", T),
        ("!1", F),
        ("!account.email", T),
        ("!account.empty", T),
        ("!account.zero", F),
        ("!!'x'", T),
        // The operators give booleans, not operands.
        ("'a' && 'b'", T),
        ("'' || 0", F),
        ("'a' || task.id", T),
        // Short-circuit: the unbound `task.id` is never evaluated.
        ("false && task.id", F),
        ("true || task.id", T),
        // `&&` binds tighter than `||`, `!` tighter than both, `==` tighter than `&&`.
        ("true || false && false", T),
        ("(true || false) && false", F),
        ("!true || true", T),
        ("!(true || true)", F),
        ("account.name == 'x' || account.name == 'Jane.Doe'", T),
        ("!account.name.equals('x') && account.email == null", T),
        ("true && true && false", F),
        ("false || false || 'x'", T),
    ]);
    assert_eq!(
        eval("true && task.id"),
        Err("`task.id` is not bound here".into())
    );
}

#[test]
fn ternary_and_elvis() {
    check_values(&[
        ("true ? 'a' : 'b'", s("a")),
        ("false ? 'a' : 'b'", s("b")),
        ("'' ? 'a' : 'b'", s("b")),
        ("'x' ? 'a' : 'b'", s("a")),
        ("0 ? 1 : 2", Value::Int(2)),
        ("null ? 1 : 2", Value::Int(2)),
        ("account.email ? 'has' : 'none'", s("none")),
        ("account.name == 'Jane.Doe' ? 'eq' : 'ne'", s("eq")),
        // Right-associative.
        ("false ? 'a' : true ? 'b' : 'c'", s("b")),
        ("false ? 'a' : false ? 'b' : 'c'", s("c")),
        ("true ? false ? 'a' : 'b' : 'c'", s("b")),
        // Lowest precedence.
        ("false ? 'a' : 'b' + 'c'", s("bc")),
        ("true ? 'a' : 'b' + 'c'", s("a")),
        ("true || false ? 'y' : 'n'", s("y")),
        ("(false ? 'a' : 'b') + 'c'", s("bc")),
        // Only the chosen branch is evaluated.
        ("true ? 'a' : task.id", s("a")),
        ("false ? task.id : 'b'", s("b")),
        // Elvis.
        ("account.email ?: 'none'", s("none")),
        ("account.name ?: 'none'", s("Jane.Doe")),
        ("account.empty ?: 'default'", s("default")),
        ("0 ?: 5", Value::Int(5)),
        ("false ?: true", T),
        ("account.email ?: account.empty ?: 'last'", s("last")),
        ("account.name ?: task.id", s("Jane.Doe")),
        ("true ? null : 'a' ?: 'b'", NULL),
        ("account.email?.trim() ?: 'none'", s("none")),
        ("(account.email ?: 'x').toUpperCase()", s("X")),
        ("'a' + (account.email ?: 'b')", s("ab")),
        ("account.email ? 'y' : account.name ?: 'z'", s("Jane.Doe")),
    ]);
}

#[test]
fn string_methods() {
    check_values(&[
        ("account.name.equals('Jane.Doe')", T),
        ("account.name.equals('jane.doe')", F),
        ("'1'.equals(1)", F),
        ("'a'.equals(null)", F),
        ("'a'.equals(account.email)", F),
        ("account.name.equalsIgnoreCase('JANE.doe')", T),
        ("'a'.equalsIgnoreCase(null)", F),
        ("'Straße'.equalsIgnoreCase('STRASSE')", F),
        ("'ÉTÉ'.equalsIgnoreCase('été')", T),
        ("account.name.toUpperCase()", s("JANE.DOE")),
        ("account.name.toLowerCase()", s("jane.doe")),
        ("'Straße'.toUpperCase()", s("STRASSE")),
        ("'ÀB'.toLowerCase()", s("àb")),
        ("account.padded.trim()", s("hi")),
        ("'  '.trim()", s("")),
        ("'a b'.trim()", s("a b")),
        ("'\u{a0}x\u{a0}'.trim()", s("\u{a0}x\u{a0}")),
        ("account.name.contains('.')", T),
        ("account.name.contains('x')", F),
        ("'abc'.contains('')", T),
        ("account.name.startsWith('Jane')", T),
        ("account.name.startsWith('Doe')", F),
        ("'abc'.startsWith('')", T),
        ("account.name.endsWith('Doe')", T),
        ("account.name.endsWith('Jane')", F),
        ("'a.b.c'.replace('.', '-')", s("a-b-c")),
        ("'aaa'.replace('aa', 'b')", s("ba")),
        ("'abc'.replace('', '-')", s("-a-b-c-")),
        ("'a.b'.replace('.', '')", s("ab")),
        ("'a$b'.replace('$', '\\$')", s("a$b")),
        ("account.name.length()", Value::Int(8)),
        ("''.length()", Value::Int(0)),
        ("'héllo'.length()", Value::Int(5)),
        (
            "account.name.trim().toUpperCase().substring(0, 4)",
            s("JANE"),
        ),
        (
            "account.name.replace('.', ' ').toLowerCase().contains('jane d')",
            T,
        ),
        (
            "(user.firstname + '.' + user.lastname).equals(account.name)",
            T,
        ),
        ("account.name.substring(account.name.length() + 0)", s("")),
    ]);
}

#[test]
fn java_substring_bounds() {
    check_values(&[
        ("'hello'.substring(0)", s("hello")),
        ("'hello'.substring(1)", s("ello")),
        ("'hello'.substring(5)", s("")),
        ("'hello'.substring(1, 3)", s("el")),
        ("'hello'.substring(0, 0)", s("")),
        ("'hello'.substring(5, 5)", s("")),
        ("'hello'.substring(0, 5)", s("hello")),
        ("'hello'.substring(2, 2 + 1)", s("l")),
        ("'héllo'.substring(1, 2)", s("é")),
        ("''.substring(0)", s("")),
        ("''.substring(0, 0)", s("")),
    ]);
    let errors: &[(&str, &str)] = &[
        (
            "'hello'.substring(6)",
            "`'hello'.substring(6)`: out of range (begin 6, end 5, length 5)",
        ),
        (
            "'hello'.substring(0, 6)",
            "`'hello'.substring(0, 6)`: out of range (begin 0, end 6, length 5)",
        ),
        (
            "'hello'.substring(3, 2)",
            "`'hello'.substring(3, 2)`: out of range (begin 3, end 2, length 5)",
        ),
        (
            "'hello'.substring(6, 7)",
            "`'hello'.substring(6, 7)`: out of range (begin 6, end 7, length 5)",
        ),
        (
            "''.substring(1)",
            "`''.substring(1)`: out of range (begin 1, end 0, length 0)",
        ),
        (
            "account.name.substring(0, 20)",
            "`account.name.substring(0, 20)`: out of range (begin 0, end 20, length 8)",
        ),
        (
            "account.name.trim().substring(9)",
            "`account.name.trim().substring(9)`: out of range (begin 9, end 8, length 8)",
        ),
    ];
    for (text, message) in errors {
        assert_eq!(
            eval(text),
            Err(format!(
                "{message}: Java throws StringIndexOutOfBoundsException"
            )),
            "{text}"
        );
    }
    // A negative index cannot be written, but a hand-built expression is checked all the same.
    let negative = |args: Vec<Expr>| Expr::Calls {
        receiver: Box::new(Expr::Str("hello".into())),
        calls: vec![Call {
            null_safe: false,
            method: Method::Substring,
            args,
        }],
    };
    assert_eq!(
        negative(vec![Expr::Int(-1)]).eval(&Fixture),
        Err(
            "`'hello'.substring(-1)`: out of range (begin -1, end 5, length 5): Java throws \
             StringIndexOutOfBoundsException"
                .into()
        )
    );
    assert_eq!(
        negative(vec![Expr::Int(0), Expr::Int(-1)]).eval(&Fixture),
        Err(
            "`'hello'.substring(0, -1)`: out of range (begin 0, end -1, length 5): Java throws \
             StringIndexOutOfBoundsException"
                .into()
        )
    );
    assert_eq!(
        negative(vec![Expr::Int(i64::MIN), Expr::Int(i64::MAX)]).eval(&Fixture),
        Err(format!(
            "`'hello'.substring({}, {})`: out of range (begin {}, end {}, length 5): Java throws \
             StringIndexOutOfBoundsException",
            i64::MIN,
            i64::MAX,
            i64::MIN,
            i64::MAX
        ))
    );
}

#[test]
fn null_handling() {
    check_values(&[
        ("account.email?.toUpperCase()", NULL),
        ("account?.email?.trim()?.length()", NULL),
        ("account.email?.length()", NULL),
        ("account.email?.equals('x')", NULL),
        ("account.email?.substring(0, 100)", NULL),
        ("account.name?.toUpperCase()", s("JANE.DOE")),
        ("account.email?.trim() == null", T),
        ("'<' + account.email?.trim() + '>'", s("<>")),
        ("account.email?.length() ?: 0", Value::Int(0)),
    ]);
    let errors: &[(&str, &str)] = &[
        (
            "account.email.toUpperCase()",
            "`account.email` is null: use `?.` to get null instead of this error, as in \
             `?.toUpperCase()`",
        ),
        (
            "account?.email.length()",
            "`account.email` is null: use `?.` to get null instead of this error, as in \
             `?.length()`",
        ),
        (
            // `?.` guards only its own step, as in Groovy.
            "account.email?.trim().substring(1)",
            "`account.email?.trim()` is null: use `?.` to get null instead of this error, as in \
             `?.substring(…)`",
        ),
        (
            "(account.email ?: null).trim()",
            "`account.email ?: null` is null: use `?.` to get null instead of this error, as in \
             `?.trim()`",
        ),
        (
            "account.name.contains(account.email)",
            "`account.name.contains(account.email)`: the argument `account.email` is null",
        ),
        (
            "'a'.startsWith(null)",
            "`'a'.startsWith(null)`: the argument `null` is null",
        ),
        (
            "'a'.endsWith(user.nothing)",
            "`'a'.endsWith(user.nothing)`: the argument `user.nothing` is null",
        ),
        (
            "'a'.replace(account.email, 'b')",
            "`'a'.replace(account.email, 'b')`: the argument `account.email` is null",
        ),
        (
            "'a'.replace('a', account.email)",
            "`'a'.replace('a', account.email)`: the argument `account.email` is null",
        ),
    ];
    for (text, message) in errors {
        assert_eq!(eval(text), Err(message.to_string()), "{text}");
    }
}

#[test]
fn values_render_as_text() {
    assert_eq!(Value::Null.render(), "");
    assert_eq!(s("x").render(), "x");
    assert_eq!(Value::Int(-3).render(), "-3");
    assert_eq!(T.render(), "true");
    assert_eq!(F.render(), "false");
}

#[test]
fn parse_errors_name_the_offending_character() {
    let operators = ": the only arithmetic is `+`";
    let comparisons = ": the only comparisons are `==` and `!=`";
    let cases: &[(&str, usize, String)] = &[
        ("", 0, "empty expression".into()),
        ("   ", 3, "empty expression".into()),
        ("a +", 3, "expected a value, found the end of the expression".into()),
        ("a - b", 2, format!("`-` is not supported{operators}")),
        ("a * b", 2, format!("`*` is not supported{operators}")),
        ("a ** b", 2, format!("`**` is not supported{operators}")),
        ("a / b", 2, format!("`/` is not supported{operators}")),
        ("a % b", 2, format!("`%` is not supported{operators}")),
        ("a = b", 2, "`=` is not supported (assignment): compare with `==`".into()),
        ("a += b", 2, "`+=` is not supported (assignment)".into()),
        ("a++", 1, "`++` is not supported (increment)".into()),
        ("a === b", 2, "`===` is not supported (identity): compare with `==`".into()),
        ("a !== b", 2, "`!==` is not supported (identity): compare with `!=`".into()),
        ("a =~ b", 2, "`=~` is not supported (regular expressions)".into()),
        ("a ==~ b", 2, "`==~` is not supported (regular expressions)".into()),
        ("a < b", 2, format!("`<` is not supported{comparisons}")),
        ("a <= b", 2, format!("`<=` is not supported{comparisons}")),
        ("a > b", 2, format!("`>` is not supported{comparisons}")),
        ("a >= b", 2, format!("`>=` is not supported{comparisons}")),
        ("a <=> b", 2, format!("`<=>` is not supported{comparisons}")),
        ("a << b", 2, "`<<` is not supported (bit shifts)".into()),
        ("a >> b", 2, "`>>` is not supported (bit shifts)".into()),
        ("a >>> b", 2, "`>>>` is not supported (bit shifts)".into()),
        ("a & b", 2, "`&` is not supported: logical and is `&&`".into()),
        ("a | b", 2, "`|` is not supported: logical or is `||`".into()),
        ("a ^ b", 2, "`^` is not supported".into()),
        ("~a", 0, "`~` is not supported".into()),
        ("1..3", 1, "`..` is not supported (ranges and spreading)".into()),
        ("a*.b", 1, "`*.` is not supported (spreading)".into()),
        ("a.&b", 1, "`.&` is not supported (method pointers)".into()),
        ("a.@b", 1, "`.@` is not supported (direct field access)".into()),
        ("a?[0]", 1, "`?[` is not supported (indexing)".into()),
        ("a::b", 1, "`::` is not supported (method references)".into()),
        (
            "a[0]",
            1,
            "`[` is not supported (lists, maps and indexing): use String methods such as `substring`"
                .into(),
        ),
        (
            "[1, 2]",
            0,
            "`[` is not supported (lists, maps and indexing): use String methods such as `substring`"
                .into(),
        ),
        ("{ it }", 0, "`{` is not supported (closures and blocks)".into()),
        ("a.each { it }", 7, "Groovy closures (`.each{ }`) are not supported: a plan runs for one account, with no collection to iterate; build the text with `+` and `? :` (`'<Role>' + account.name + '</Role>'`)".into()),
        ("a + { it }", 4, "`{` is not supported (closures and blocks)".into()),
        ("x -> x", 2, "`->` is not supported (closures)".into()),
        ("a; b", 1, "`;` is not supported: `${...}` holds a single expression".into()),
        ("a }", 2, "unexpected `}`".into()),
        ("$a", 0, "`$` is not supported here".into()),
        ("@a", 0, "`@` is not supported (annotations)".into()),
        ("a // note", 2, "comments are not supported".into()),
        ("a /* note */", 2, "comments are not supported".into()),
        ("a # b", 2, "unexpected character `#`".into()),
        ("é", 0, "unexpected character `é`".into()),
        // Keywords: reported before any later mistake.
        (
            "def x = 1",
            0,
            "`def` is not supported: `${...}` holds one expression of property paths, literals, \
             `+`, `==`, `!=`, `&&`, `||`, `!`, `? :`, `?:` and String methods"
                .into(),
        ),
        (
            "new Date()",
            0,
            "`new` is not supported: `${...}` holds one expression of property paths, literals, \
             `+`, `==`, `!=`, `&&`, `||`, `!`, `? :`, `?:` and String methods"
                .into(),
        ),
        (
            "a in b",
            2,
            "`in` is not supported: `${...}` holds one expression of property paths, literals, \
             `+`, `==`, `!=`, `&&`, `||`, `!`, `? :`, `?:` and String methods"
                .into(),
        ),
        (
            "a instanceof String",
            2,
            "`instanceof` is not supported: `${...}` holds one expression of property paths, \
             literals, `+`, `==`, `!=`, `&&`, `||`, `!`, `? :`, `?:` and String methods"
                .into(),
        ),
        // Literals.
        ("'abc", 0, "string literal is never closed".into()),
        ("\"abc", 0, "string literal is never closed".into()),
        ("'a\\", 0, "string literal is never closed".into()),
        ("a + 'x\ny'", 4, "string literal is never closed on its line (write `\\n` for a line break)".into()),
        ("'''x'''", 0, "triple-quoted strings (`'''`) are not supported".into()),
        ("\"\"\"x\"\"\"", 0, "triple-quoted strings (`\"\"\"`) are not supported".into()),
        (
            r"'a\qb'",
            2,
            r#"unknown escape `\q`: the escapes are \\ \' \" \n \t \r \$"#.into(),
        ),
        (
            r#""a${b}""#,
            2,
            "`$` in a double-quoted string is Groovy interpolation, which is not supported: \
             concatenate with `+`, write `\\$` for a dollar sign, or use single quotes"
                .into(),
        ),
        ("1.5", 0, "decimal numbers are not supported: only integers".into()),
        ("0x1F", 0, "unsupported number `0x1F`: only decimal integers such as `3`".into()),
        ("10L", 0, "unsupported number `10L`: only decimal integers such as `3`".into()),
        (
            "010",
            0,
            "`010` is not supported: Groovy reads a leading zero as octal; write the number without it"
                .into(),
        ),
        ("9223372036854775808", 0, "integer `9223372036854775808` is too large".into()),
        // Structure.
        ("a b", 2, unexpected("`b`")),
        ("'a' 'b'", 4, unexpected("a string literal")),
        ("a )", 2, "unmatched `)`".into()),
        ("(a", 2, "expected the `)` closing a `(`, found the end of the expression".into()),
        ("a ? b", 5, "expected the `:` of `? :`, found the end of the expression".into()),
        ("a ? : b", 4, "expected a value, found `:`".into()),
        ("a :", 2, unexpected("`:`")),
        ("a,b", 1, unexpected("`,`")),
        ("!", 1, "expected a value, found the end of the expression".into()),
        ("a.", 2, "expected a property or method name after `.`, found the end of the expression".into()),
        ("a?.'b'", 3, "expected a property or method name after `?.`, found a string literal".into()),
        ("a.1", 2, "expected a property or method name after `.`, found `1`".into()),
        // Calls.
        (
            "foo(1)",
            0,
            "`foo(...)`: function calls are not supported; call String methods on a value, as in \
             `account.name.trim()`"
                .into(),
        ),
        ("'a'(1)", 3, "unexpected `(`".into()),
        (
            "account.name.toUpper()",
            13,
            "unknown method `toUpper`: the supported String methods are equals, equalsIgnoreCase, \
             toUpperCase, toLowerCase, substring, trim, contains, startsWith, endsWith, replace, \
             length"
                .into(),
        ),
        (
            "account.name.size()",
            13,
            "unknown method `size`: the supported String methods are equals, equalsIgnoreCase, \
             toUpperCase, toLowerCase, substring, trim, contains, startsWith, endsWith, replace, \
             length"
                .into(),
        ),
        ("account.name.trim().x", 19, "`.x`: only bound objects have properties (`account.name`); `account.name.trim()` is a String".into()),
        (
            "account.name.trim().length",
            19,
            "`.length`: only bound objects have properties (`account.name`); `account.name.trim()` \
             is a String (to call the method, write `length(...)`)"
                .into(),
        ),
        ("'a'.b", 3, "`.b`: only bound objects have properties (`account.name`); `'a'` is a String".into()),
        ("1.trim()", 2, "`trim()` is a String method, but `1` is an integer".into()),
        ("true.trim()", 5, "`trim()` is a String method, but `true` is a boolean".into()),
        ("null.trim()", 5, "`trim()` is a String method, but `null` is always null".into()),
        (
            "account.name.length().trim()",
            22,
            "`trim()` is a String method, but `account.name.length()` is an integer".into(),
        ),
        (
            "account.name.contains('a').equals(true)",
            27,
            "`equals()` is a String method, but `account.name.contains('a')` is a boolean".into(),
        ),
        (
            "(a == b).trim()",
            9,
            "`trim()` is a String method, but `a == b` is a boolean".into(),
        ),
        (
            "(a ? 1 : 'x').trim()",
            14,
            "`trim()` is a String method, but `a ? 1 : 'x'` is an integer".into(),
        ),
        ("a.trim(1)", 2, "`trim` takes no arguments, not 1".into()),
        ("a.length(1, 2)", 2, "`length` takes no arguments, not 2".into()),
        ("a.equals()", 2, "`equals` takes 1 argument, not 0".into()),
        ("a.contains('a', 'b')", 2, "`contains` takes 1 argument, not 2".into()),
        ("a.substring()", 2, "`substring` takes 1 or 2 arguments (begin, end), not 0".into()),
        ("a.substring(1, 2, 3)", 2, "`substring` takes 1 or 2 arguments (begin, end), not 3".into()),
        ("a.replace('x')", 2, "`replace` takes 2 arguments (target, replacement), not 1".into()),
        (
            "a.substring(b)",
            12,
            "the arguments of `substring` are integers, but `b` is a String".into(),
        ),
        (
            "a.substring(0, null)",
            15,
            "the arguments of `substring` are integers, but `null` is null".into(),
        ),
        (
            "a.substring(true)",
            12,
            "the arguments of `substring` are integers, but `true` is a boolean".into(),
        ),
        (
            "a.contains(1)",
            11,
            "the arguments of `contains` are strings, but `1` is an integer".into(),
        ),
        (
            "a.replace('x', 1 + 1)",
            15,
            "the arguments of `replace` are strings, but `1 + 1` is an integer".into(),
        ),
        (
            "a.startsWith(b == c)",
            13,
            "the arguments of `startsWith` are strings, but `b == c` is a boolean".into(),
        ),
        ("a.trim(", 7, "expected a value, found the end of the expression".into()),
        ("a.substring(1 2)", 14, "expected `,` or the `)` closing the arguments of `substring`, found `2`".into()),
        // `+` of booleans.
        ("true + 1", 5, plus_boolean()),
        ("false + 'a'", 6, plus_boolean()),
        ("1 + (a == b)", 2, plus_boolean()),
        ("(a == b) + (c == d)", 9, plus_boolean()),
        ("'a' + 1 + true + (1 + true)", 20, plus_boolean()),
    ];
    for (text, offset, message) in cases {
        let error = Expr::parse(text).expect_err(text);
        assert_eq!(
            (error.offset, error.message.as_str()),
            (*offset, message.as_str()),
            "{text}"
        );
    }
}

fn plus_boolean() -> String {
    "`+` cannot take a boolean here: it adds integers or concatenates to a string (`'' + x` makes \
     a string)"
        .into()
}

fn unexpected(what: &str) -> String {
    format!(
        "unexpected {what}: expected an operator (`+`, `==`, `!=`, `&&`, `||`, `? :`, `?:`), \
         `.method(...)` or the end of the expression"
    )
}

#[test]
fn keywords_are_property_names_after_a_dot() {
    let expr = Expr::parse("account.class + account.in").unwrap();
    assert_eq!(
        expr.paths(),
        vec![
            &["account".to_string(), "class".to_string()][..],
            &["account".to_string(), "in".to_string()][..]
        ]
    );
}

#[test]
fn deep_nesting_is_refused_without_overflowing() {
    let nested = |depth: usize, open: &str, close: &str| {
        format!("{}a{}", open.repeat(depth), close.repeat(depth))
    };
    // The whole expression is a level, each parenthesis another.
    assert!(Expr::parse(&nested(MAX_DEPTH - 1, "(", ")")).is_ok());
    let error = Expr::parse(&nested(MAX_DEPTH, "(", ")")).unwrap_err();
    assert_eq!(
        (error.offset, error.message.as_str()),
        (
            MAX_DEPTH,
            "expression nested too deeply (more than 64 levels)"
        )
    );
    assert!(Expr::parse(&nested(MAX_DEPTH - 1, "!", "")).is_ok());
    let error = Expr::parse(&nested(MAX_DEPTH, "!", "")).unwrap_err();
    assert_eq!(
        error.message,
        "expression nested too deeply (more than 64 levels)"
    );
    for hostile in [
        nested(2000, "(", ")"),
        nested(4000, "!", ""),
        "a ? ".repeat(1000) + "b",
        "a ?: ".repeat(800) + "b",
        "x.trim(".repeat(500),
        "(".repeat(1_000_000),
    ] {
        assert!(Expr::parse(&hostile).is_err(), "{}", &hostile[..20]);
    }
    // Long flat chains are not nesting: they parse and evaluate.
    let chain = vec!["'x'"; 600].join(" + ");
    assert_eq!(eval(&chain), Ok(s(&"x".repeat(600))));
    let calls = format!("account.name{}", ".trim()".repeat(500));
    assert_eq!(eval(&calls), Ok(s("Jane.Doe")));
    let comparisons = vec!["true"; 500].join(" == ");
    assert_eq!(eval(&comparisons), Ok(T));
    let ands = vec!["'x'"; 500].join(" && ");
    assert_eq!(eval(&ands), Ok(T));
}

#[test]
fn the_deepest_expression_fits_a_small_stack() {
    // 63 levels (30 × two parentheses, and the branches of the innermost `? :` and `?:`), each
    // through every precedence level: parsing, evaluating, printing and dropping it fits in
    // 512 KiB even unoptimized (an optimized build needs under 100 KiB), well within the stack of
    // a wasm32 component.
    let text = format!(
        "{}account.name{}",
        "('x' + (".repeat(30),
        " == 'y' && !false ? 'a' : 'b' ?: 'c').trim())".repeat(30)
    );
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            let expr = Expr::parse(&text).unwrap();
            assert_eq!(expr.eval(&Fixture), Ok(s("xb")));
            assert_eq!(Expr::parse(&expr.to_string()), Ok(expr));
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn long_expressions_are_refused() {
    let long = format!("'{}'", "x".repeat(MAX_LENGTH - 2));
    assert!(Expr::parse(&long).is_ok());
    let error = Expr::parse(&format!("'{}'", "x".repeat(MAX_LENGTH - 1))).unwrap_err();
    assert_eq!(
        (error.offset, error.message.as_str()),
        (MAX_LENGTH, "expression longer than 4096 characters")
    );
    let error = Expr::parse(&format!("'{}'", "é".repeat(MAX_LENGTH))).unwrap_err();
    assert_eq!(error.message, "expression longer than 4096 characters");
}

#[test]
fn values_longer_than_the_limit_are_refused() {
    // Each call makes the value eight times longer: 8^13 bytes unless refused at 8^7.
    let bomb = format!("'aaaaaaaa'{}", ".replace('a', 'aaaaaaaa')".repeat(12));
    let error = eval(&bomb).unwrap_err();
    assert!(
        error.ends_with(&format!(
            "the value would be 2097152 bytes long, more than the {MAX_VALUE} a value may hold"
        )),
        "{error}"
    );
    // Within the limit, and exactly at it.
    let six = format!("'aaaaaaaa'{}", ".replace('a', 'aaaaaaaa')".repeat(5));
    assert_eq!(eval(&six), Ok(Value::Str("a".repeat(8usize.pow(6)))));
    let at_limit = format!("'a'{}", ".replace('a', 'aa')".repeat(20));
    assert_eq!(eval(&at_limit).map(|v| v.render().len()), Ok(MAX_VALUE));
    // An empty target matches around every character, as in Java.
    assert_eq!(eval("'ab'.replace('', '-')"), Ok(s("-a-b-")));
    let error = eval(&format!("{at_limit} + 'x'")).unwrap_err();
    assert!(error.contains("1048577 bytes long"), "{error}");
    let error = eval(&format!("{at_limit}.replace('a', 'ﬃ').toUpperCase()")).unwrap_err();
    assert!(error.contains("more than the 1048576"), "{error}");
}

#[test]
fn paths_of_complex_expressions() {
    let cases: &[(&str, &[&str])] = &[
        ("'literal' + 1", &[]),
        ("USERNAME", &["USERNAME"]),
        ("account?.email", &["account.email"]),
        (
            "user.firstname + ' ' + user.lastname.toUpperCase()",
            &["user.firstname", "user.lastname"],
        ),
        (
            "account.email?.trim() ?: (user.email ?: account.name.substring(0, account.x.length()))",
            &["account.email", "user.email", "account.name", "account.x"],
        ),
        (
            "!task.id.equals(endpoint.y) && (a == b || c != d) ? x.replace(y, z) : w",
            &[
                "task.id",
                "endpoint.y",
                "a",
                "b",
                "c",
                "d",
                "x",
                "y",
                "z",
                "w",
            ],
        ),
        // Each path once, in order of first appearance.
        (
            "account.name ? account.name.trim() : account.name",
            &["account.name"],
        ),
    ];
    for (text, expected) in cases {
        let expr = Expr::parse(text).unwrap();
        let paths: Vec<String> = expr.paths().iter().map(|path| path.join(".")).collect();
        assert_eq!(paths, *expected, "{text}");
    }
}

#[test]
fn printing_adds_only_needed_parentheses() {
    let cases: &[(&str, &str)] = &[
        ("a+b", "a + b"),
        ("(a+b)+c", "(a + b) + c"),
        ("a+(b+c)", "a + (b + c)"),
        ("(a ? b : c) ? d : e", "(a ? b : c) ? d : e"),
        ("a ? b : (c ? d : e)", "a ? b : c ? d : e"),
        ("!(a && b)", "!(a && b)"),
        ("(a || b) && c", "(a || b) && c"),
        ("a?.trim()?.length()", "a?.trim()?.length()"),
        ("(a + b).trim()", "(a + b).trim()"),
        ("'it\\'s\\n'", "'it\\'s\\n'"),
        ("\"x\"", "'x'"),
    ];
    for (text, printed) in cases {
        assert_eq!(Expr::parse(text).unwrap().to_string(), *printed, "{text}");
    }
}

#[test]
fn hand_built_expressions_do_not_panic() {
    let odd = [
        Expr::Path(Vec::new()),
        Expr::Plus(Vec::new()),
        Expr::And(Vec::new()),
        Expr::Or(Vec::new()),
        Expr::Calls {
            receiver: Box::new(Expr::Int(1)),
            calls: vec![Call {
                null_safe: false,
                method: Method::Trim,
                args: Vec::new(),
            }],
        },
        Expr::Calls {
            receiver: Box::new(Expr::Str("x".into())),
            calls: vec![Call {
                null_safe: false,
                method: Method::Replace,
                args: vec![Expr::Int(1)],
            }],
        },
        Expr::Calls {
            receiver: Box::new(Expr::Str("x".into())),
            calls: vec![Call {
                null_safe: false,
                method: Method::Contains,
                args: vec![Expr::Bool(true)],
            }],
        },
        Expr::Calls {
            receiver: Box::new(Expr::Str("x".into())),
            calls: vec![Call {
                null_safe: false,
                method: Method::Substring,
                args: vec![Expr::Str("1".into())],
            }],
        },
        Expr::Calls {
            receiver: Box::new(Expr::Str("x".into())),
            calls: Vec::new(),
        },
    ];
    let results: Vec<_> = odd.iter().map(|expr| expr.eval(&Fixture)).collect();
    assert_eq!(
        results,
        vec![
            Err("empty property path".to_string()),
            Ok(s("")),
            Ok(T),
            Ok(F),
            Err("`1` is not a String: `trim` is a String method".into()),
            Err("`'x'.replace(1)`: `replace` takes 2 argument(s), not 1".into()),
            Err("`'x'.contains(true)`: the argument `true` is not a String".into()),
            Err("`'x'.substring('1')`: the argument `'1'` is not an integer".into()),
            Ok(s("x")),
        ]
    );
}

/// A small deterministic generator (xorshift), for the fuzz-style test without dependencies.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn random_inputs_never_panic_and_print_back() {
    use crate::template::{Escape, Template};
    const PIECES: &[&str] = &[
        "account",
        "name",
        "email",
        "a",
        "task",
        ".",
        "?.",
        "(",
        ")",
        "'x'",
        "\"y\"",
        "'",
        "\"",
        "\\",
        "1",
        "0",
        "12",
        "+",
        "==",
        "!=",
        "&&",
        "||",
        "!",
        "?",
        ":",
        "?:",
        ",",
        " ",
        "\n",
        "trim",
        "substring",
        "length",
        "equals",
        "replace",
        "contains",
        "toUpperCase",
        "null",
        "true",
        "false",
        "}",
        "${",
        "raw:",
        "é",
        "-",
        "<",
        "[",
        "{",
        "$",
        "'}'",
        "\\n",
        "def",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut parsed = 0;
    for round in 0..40_000 {
        let length = 1 + rng.below(if round % 2 == 0 { 8 } else { 24 });
        let text: String = (0..length)
            .map(|_| PIECES[rng.below(PIECES.len())])
            .collect();
        if let Ok(expr) = Expr::parse(&text) {
            parsed += 1;
            let _ = expr.eval(&Fixture);
            let _ = expr.paths();
            let printed = expr.to_string();
            assert_eq!(Expr::parse(&printed), Ok(expr), "{text:?} → {printed:?}");
        }
        for source in [
            format!("<a>${{{text}}}</a>"),
            format!("x${{{text}"),
            text.clone(),
        ] {
            if let Ok(template) = Template::parse(&source) {
                let _ = template.render(&Fixture, Escape::Xml);
                let _ = template.render(&Fixture, Escape::None);
                let filled = template.with_placeholders_filled();
                assert_eq!(filled.chars().count(), source.chars().count(), "{source:?}");
                assert_eq!(filled.lines().count(), source.lines().count(), "{source:?}");
            }
        }
    }
    assert!(parsed > 1000, "only {parsed} inputs parsed");
}
