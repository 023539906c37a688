#include "lisp/reader.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "lisp/collections.h"

namespace valk::lisp {

namespace {

// A small printer for comparing what was read; the real one lives elsewhere.
std::string show(Value v) {
  switch (v.tag) {
    case Tag::Nil:
      return "nil";
    case Tag::Bool:
      return v.b ? "true" : "false";
    case Tag::Int:
      return std::to_string(v.i);
    case Tag::Double: {
      if (std::isnan(v.d)) {
        return "##NaN";
      }
      if (std::isinf(v.d)) {
        return v.d > 0 ? "##Inf" : "##-Inf";
      }
      char buf[40];
      snprintf(buf, sizeof buf, "%.17g", v.d);
      std::string s = buf;
      if (s.find_first_of(".en") == std::string::npos) {
        s += ".0";
      }
      return s;
    }
    case Tag::String: {
      std::string out = "\"";
      for (char c : static_cast<String*>(v.o)->view()) {
        switch (c) {
          case '\n':
            out += "\\n";
            break;
          case '\t':
            out += "\\t";
            break;
          case '\r':
            out += "\\r";
            break;
          case '"':
            out += "\\\"";
            break;
          case '\\':
            out += "\\\\";
            break;
          case '\0':
            out += "\\0";
            break;
          default:
            out += c;
        }
      }
      return out + "\"";
    }
    case Tag::Symbol:
      return std::string(static_cast<Symbol*>(v.o)->name->view());
    case Tag::Keyword:
      return ":" + std::string(static_cast<Symbol*>(v.o)->name->view());
    case Tag::List: {
      std::string out = "(";
      for (Value p = v; p.o != nullptr; p = static_cast<Cons*>(p.o)->rest) {
        if (out.size() > 1) {
          out += " ";
        }
        out += show(static_cast<Cons*>(p.o)->first);
      }
      return out + ")";
    }
    case Tag::Vector: {
      std::string out = "[";
      for (size_t i = 0; i < vector_count(v); i++) {
        out += (i > 0 ? " " : "") + show(vector_nth(v, i));
      }
      return out + "]";
    }
    case Tag::Map: {
      std::string out = "{";
      map_each(v, [&](Value k, Value val) {
        out += (out.size() > 1 ? ", " : "") + show(k) + " " + show(val);
        return true;
      });
      return out + "}";
    }
    case Tag::Set: {
      std::string out = "#{";
      set_each(v, [&](Value x) {
        out += (out.size() > 2 ? " " : "") + show(x);
        return true;
      });
      return out + "}";
    }
    default:
      return "?";
  }
}

// Reads `src`, which must hold forms and no error, and shows them.
std::string rd(std::string_view src) {
  Heap heap;
  ReadResult r = read_all(heap, src, "t.lisp");
  if (!r.ok) {
    return "ERROR " + r.error.to_string(heap);
  }
  std::string out;
  for (Value v : r.forms) {
    out += (out.empty() ? "" : " ") + show(v);
  }
  return out;
}

// Reads `src`, which must fail, and returns "line:column: message".
std::string err(std::string_view src) {
  Heap heap;
  ReadResult r = read_all(heap, src, "t.lisp");
  if (r.ok) {
    return "OK";
  }
  EXPECT_TRUE(r.forms.empty());
  return std::to_string(r.error.pos.line) + ":" + std::to_string(r.error.pos.column) + ": " +
         r.error.message;
}

// ---------------------------------------------------------------------------
// Atoms

TEST(Reader, Integers) {
  EXPECT_EQ(rd("0 42 -7 +5 0x1F 0XfF -0x10"), "0 42 -7 5 31 255 -16");
  EXPECT_EQ(rd("9223372036854775807 -9223372036854775808"),
            "9223372036854775807 -9223372036854775808");
  EXPECT_EQ(rd("0x7FFFFFFFFFFFFFFF -0x8000000000000000"),
            "9223372036854775807 -9223372036854775808");
}

TEST(Reader, IntegersOutOfRangeAreErrorsNotWraps) {
  EXPECT_EQ(err("9223372036854775808"), "1:1: number 9223372036854775808 is out of range at 1:1");
  EXPECT_EQ(err("(+ 1 -9223372036854775809)"),
            "1:6: number -9223372036854775809 is out of range at 1:6");
  EXPECT_EQ(err("0x8000000000000000"), "1:1: number 0x8000000000000000 is out of range at 1:1");
  EXPECT_EQ(err("  99999999999999999999999999"),
            "1:3: number 99999999999999999999999999 is out of range at 1:3");
  EXPECT_EQ(err("0x1FFFFFFFFFFFFFFFF"), "1:1: number 0x1FFFFFFFFFFFFFFFF is out of range at 1:1");
}

TEST(Reader, InvalidNumbers) {
  EXPECT_EQ(err("12abc"), "1:1: invalid number 12abc at 1:1");
  EXPECT_EQ(err("0x"), "1:1: invalid number 0x at 1:1");
  EXPECT_EQ(err("0xG1"), "1:1: invalid number 0xG1 at 1:1");
  EXPECT_EQ(err("1.2.3"), "1:1: invalid number 1.2.3 at 1:1");
  EXPECT_EQ(err("1e"), "1:1: invalid number 1e at 1:1");
  EXPECT_EQ(err("1e+"), "1:1: invalid number 1e+ at 1:1");
  EXPECT_EQ(err("1/2"), "1:1: invalid number 1/2 at 1:1");
  EXPECT_EQ(err("-1N"), "1:1: invalid number -1N at 1:1");
  EXPECT_EQ(err("012"),
            "1:1: leading zeros are not allowed in 012 at 1:1 (octal is not supported)");
}

TEST(Reader, Doubles) {
  EXPECT_EQ(rd("1.5 -2.0 1e3 1.5E-7 +0.25 1. 2e+2"),
            "1.5 -2.0 1000.0 1.4999999999999999e-07 "
            "0.25 1.0 200.0");
  EXPECT_EQ(rd("##Inf ##-Inf ##NaN"), "##Inf ##-Inf ##NaN");
  EXPECT_EQ(err("1e999"), "1:1: number 1e999 is out of range at 1:1");
  EXPECT_EQ(err("##Foo"),
            "1:1: unknown symbolic value ##Foo at 1:1 (expected ##Inf, ##-Inf or ##NaN)");
}

TEST(Reader, Literals) {
  Heap heap;
  ReadResult r = read_all(heap, "nil true false", "t");
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.forms.size(), 3u);
  EXPECT_TRUE(r.forms[0].is_nil());
  EXPECT_TRUE(r.forms[1].is(Tag::Bool) && r.forms[1].b);
  EXPECT_TRUE(r.forms[2].is(Tag::Bool) && !r.forms[2].b);
}

TEST(Reader, Symbols) {
  Heap heap;
  ReadResult r = read_all(heap, "json/parse -> λ *rest a.b + - / foo# a'b % <=> nil? .5x", "t");
  ASSERT_TRUE(r.ok);
  const char* names[] = {"json/parse", "->",   "λ",   "*rest", "a.b", "+",    "-",
                         "/",          "foo#", "a'b", "%",     "<=>", "nil?", ".5x"};
  ASSERT_EQ(r.forms.size(), std::size(names));
  for (size_t i = 0; i < r.forms.size(); i++) {
    ASSERT_TRUE(r.forms[i].is(Tag::Symbol)) << names[i];
    EXPECT_EQ(static_cast<Symbol*>(r.forms[i].o)->name->view(), names[i]);
  }
  // Interned: equal names are the same object.
  ReadResult again = read_all(heap, "json/parse", "t");
  EXPECT_TRUE(identical(again.forms[0], r.forms[0]));
  EXPECT_EQ(err("foo/"), "1:1: invalid symbol foo/ at 1:1");
  EXPECT_EQ(err("/foo"), "1:1: invalid symbol /foo at 1:1");
}

TEST(Reader, Keywords) {
  Heap heap;
  ReadResult r = read_all(heap, ":foo :a/b :->", "t");
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.forms.size(), 3u);
  EXPECT_TRUE(r.forms[0].is(Tag::Keyword));
  EXPECT_EQ(r.forms[0].o, heap.intern_keyword("foo"));
  EXPECT_EQ(r.forms[1].o, heap.intern_keyword("a/b"));
  EXPECT_EQ(r.forms[2].o, heap.intern_keyword("->"));
  EXPECT_EQ(err("(a :)"), "1:4: a keyword needs a name after the ':' at 1:4");
  EXPECT_EQ(err("::foo"), "1:1: auto-resolved keywords (::foo) are not supported, at 1:1");
  EXPECT_EQ(err(":a/"), "1:1: invalid keyword :a/ at 1:1");
}

TEST(Reader, Strings) {
  EXPECT_EQ(rd(R"("hello" "" "a\nb\tc\rd" "q\"q" "back\\slash" "nul\0")"),
            R"("hello" "" "a\nb\tc\rd" "q\"q" "back\\slash" "nul\0")");
  EXPECT_EQ(rd(R"("\u00e9\u00E9" "λ→😀" "\uD83D\uDE00")"), "\"éé\" \"λ→😀\" \"😀\"");
  EXPECT_EQ(rd("\"two\nlines\""), R"("two\nlines")");
  Heap heap;
  ReadResult r = read_all(heap, R"("héllo")", "t");
  ASSERT_TRUE(r.ok);
  auto* s = static_cast<String*>(r.forms[0].o);
  EXPECT_EQ(s->size, 6u);
  EXPECT_EQ(s->char_count, 5u);
}

TEST(Reader, StringErrors) {
  EXPECT_EQ(err("(a\n  \"abc"), "2:3: unterminated string starting at 2:3");
  EXPECT_EQ(err(R"("abc\)"), "1:1: unterminated string starting at 1:1");
  EXPECT_EQ(err(R"(x "a\qb")"), "1:5: unknown escape \\q in string at 1:5");
  EXPECT_EQ(err(R"("\u12G4")"), "1:2: invalid \\u escape at 1:2: it needs four hex digits");
  EXPECT_EQ(err(R"("\uD800")"), "1:2: invalid \\u escape at 1:2: lone surrogate");
  EXPECT_EQ(err(R"("\uDC00")"), "1:2: invalid \\u escape at 1:2: lone surrogate");
  EXPECT_EQ(err(R"("\uD800\u0041")"),
            "1:2: invalid \\u escape at 1:2: a high surrogate must be followed by a low one");
}

TEST(Reader, InvalidUtf8IsAnErrorWithItsPosition) {
  EXPECT_EQ(err("\"ab\xff\""), "1:4: invalid UTF-8 at 1:4");
  EXPECT_EQ(err("(λ x\n  \xC0\x80)"), "2:3: invalid UTF-8 at 2:3");   // overlong
  EXPECT_EQ(err("\xED\xA0\x80"), "1:1: invalid UTF-8 at 1:1");        // surrogate
  EXPECT_EQ(err("ab\xF4\x90\x80\x80"), "1:3: invalid UTF-8 at 1:3");  // above U+10FFFF
  EXPECT_EQ(err("; comment \xE2\x82"), "1:11: invalid UTF-8 at 1:11");
}

TEST(Reader, CharacterLiteralsAreOneCharacterStrings) {
  EXPECT_EQ(rd(R"(\a \newline \space \tab \return \( \λ \u00e9 \, \")"),
            R"("a" "\n" " " "\t" "\r" "(" "λ" "é" "," "\"")");
  EXPECT_EQ(rd(R"((\a\b))"), R"(("a" "b"))");
  EXPECT_EQ(err(R"(\foo)"), "1:1: unknown character literal \\foo at 1:1");
  EXPECT_EQ(err("(\\ a)"), "1:2: a character must follow the \\ at 1:2");
  EXPECT_EQ(err(R"(\uD800)"), "1:1: unknown character literal \\uD800 at 1:1");
}

TEST(Reader, ControlCharactersOutsideStringsAreErrors) {
  EXPECT_EQ(err(std::string_view("a\0b", 3)), "1:2: unexpected control character U+0000 at 1:2");
  EXPECT_EQ(err("\x01"), "1:1: unexpected control character U+0001 at 1:1");
}

// ---------------------------------------------------------------------------
// Lists and reader macros

TEST(Reader, Lists) {
  EXPECT_EQ(rd("(+ 1 (* 2 3)) () (())"), "(+ 1 (* 2 3)) () (())");
  Heap heap;
  ReadResult r = read_all(heap, "()", "t");
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(r.forms[0].is(Tag::List));
  EXPECT_EQ(r.forms[0].o, nullptr);
  r = read_all(heap, "(a b c)", "t");
  EXPECT_EQ(static_cast<Cons*>(r.forms[0].o)->count, 3);
}

TEST(Reader, WhitespaceCommentsAndCommas) {
  EXPECT_EQ(rd("(a,b,,c) ; a comment\n;; another\n\t(d)\r\n"), "(a b c) (d)");
  EXPECT_EQ(rd("; only a comment"), "");
  EXPECT_EQ(rd(""), "");
  EXPECT_EQ(rd("(a ; comment ) inside\n b)"), "(a b)");
}

TEST(Reader, QuoteFamily) {
  EXPECT_EQ(rd("'x '(1 2) `(a ~b ~@c) @a ''x"),
            "(quote x) (quote (1 2)) (syntax-quote (a (unquote b) (unquote-splicing c))) "
            "(deref a) (quote (quote x))");
  EXPECT_EQ(rd("' x"), "(quote x)");
}

TEST(Reader, Discard) {
  EXPECT_EQ(rd("(a #_b c) #_(d e) f #_ #_ g h i"), "(a c) f i");
  EXPECT_EQ(rd("#_x"), "");
  EXPECT_EQ(err("(a #_)"), "1:6: unexpected ')' at 1:6: a form must follow the #_ at 1:4");
}

TEST(Reader, FnLiteral) {
  EXPECT_EQ(rd("#(+ % %2)"), "(fn [%1 %2] (+ %1 %2))");
  EXPECT_EQ(rd("#(foo)"), "(fn [] (foo))");
  EXPECT_EQ(rd("#(apply f %2 %&)"), "(fn [%1 %2 & %&] (apply f %2 %&))");
  EXPECT_EQ(rd("#(inc %1)"), "(fn [%1] (inc %1))");
  EXPECT_EQ(rd("#(list % '%)"), "(fn [%1] (list %1 (quote %1)))");
}

TEST(Reader, FnLiteralErrors) {
  EXPECT_EQ(err("#(a #(b))"),
            "1:5: nested #() are not allowed: the #( at 1:5 is inside the one at 1:1");
  EXPECT_EQ(err("#(f %0)"), "1:5: invalid argument %0 in #() at 1:5: use %, %1 to %20 or %&");
  EXPECT_EQ(err("#(f %21)"), "1:5: invalid argument %21 in #() at 1:5: use %, %1 to %20 or %&");
  EXPECT_EQ(err("#(f %x)"), "1:5: invalid argument %x in #() at 1:5: use %, %1 to %20 or %&");
  EXPECT_EQ(err("#(a"), "1:1: unterminated #() starting at 1:1");
}

TEST(Reader, UnsupportedDispatch) {
  EXPECT_EQ(err(R"(#"re")"), "1:1: regex literals (#\"...\") are not supported, at 1:1");
  EXPECT_EQ(err("#'x"), "1:1: var quotes (#') are not supported, at 1:1");
  EXPECT_EQ(err("#?(:clj 1)"), "1:1: unknown reader macro #? at 1:1");
  EXPECT_EQ(err("# x"), "1:1: a # must not be followed by whitespace, at 1:1");
  EXPECT_EQ(err("^:x y"), "1:1: metadata (^) is not supported, at 1:1");
}

// ---------------------------------------------------------------------------
// Vectors, maps and sets

TEST(Reader, Vectors) {
  EXPECT_EQ(rd("[] [1 [2 3] \"x\"] [a, b]"), "[] [1 [2 3] \"x\"] [a b]");
}

TEST(Reader, Maps) {
  EXPECT_EQ(rd("{} {:a 1, :b [2]}"), "{} {:a 1, :b [2]}");
  EXPECT_EQ(err("(x\n {:a 1 :b})"),
            "2:2: map literal needs an even number of forms: the map starting at 2:2 has 3");
  EXPECT_EQ(err("{:a 1\n :b 2\n :a 3}"), "3:2: duplicate key :a at 3:2 in the map starting at 1:1");
  EXPECT_EQ(err("{[1 2] 1 [1 2] 2}"),
            "1:10: duplicate key a vector at 1:10 in the map starting at 1:1");
}

TEST(Reader, Sets) {
  EXPECT_EQ(rd("#{} #{1}"), "#{} #{1}");
  EXPECT_EQ(err("#{1 \"a\" 1}"), "1:9: duplicate element 1 at 1:9 in the set starting at 1:1");
  EXPECT_EQ(err("#{1 2"), "1:1: unterminated set starting at 1:1");
}

// ---------------------------------------------------------------------------
// Positions

SourcePos pos_of(Heap& heap, Value v) {
  SourcePos p;
  EXPECT_TRUE(heap.position(v.o, &p)) << show(v);
  return p;
}

TEST(Reader, RecordsPositionsOfLists) {
  Heap heap;
  ReadResult r = read_all(heap, "(a\n  (b (c)))\n\n   'λ", "pos.lisp");
  ASSERT_TRUE(r.ok);
  Value outer = r.forms[0];
  SourcePos p = pos_of(heap, outer);
  EXPECT_EQ(heap.file_name(p.file), "pos.lisp");
  EXPECT_EQ(p.line, 1u);
  EXPECT_EQ(p.column, 1u);
  Value inner = static_cast<Cons*>(static_cast<Cons*>(outer.o)->rest.o)->first;
  p = pos_of(heap, inner);
  EXPECT_EQ(p.line, 2u);
  EXPECT_EQ(p.column, 3u);
  Value innermost = static_cast<Cons*>(static_cast<Cons*>(inner.o)->rest.o)->first;
  p = pos_of(heap, innermost);
  EXPECT_EQ(p.line, 2u);
  EXPECT_EQ(p.column, 6u);
  p = pos_of(heap, r.forms[1]);  // (quote λ) is at its '
  EXPECT_EQ(p.line, 4u);
  EXPECT_EQ(p.column, 4u);
}

TEST(Reader, ColumnsCountCodePoints) {
  Heap heap;
  ReadResult r = read_all(heap, "\"λλλ\" (x)", "t");
  ASSERT_TRUE(r.ok);
  SourcePos p = pos_of(heap, r.forms[1]);
  EXPECT_EQ(p.column, 7u);
  EXPECT_EQ(err("(λ→ é))"), "1:7: unexpected ')' at 1:7");
}

TEST(Reader, RecordsPositionsOfCollections) {
  Heap heap;
  ReadResult r = read_all(heap, "[1]\n {:a 1}\n  #{2} #(f %)", "t");
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.forms.size(), 4u);
  SourcePos p = pos_of(heap, r.forms[0]);
  EXPECT_EQ(p.line, 1u);
  EXPECT_EQ(p.column, 1u);
  p = pos_of(heap, r.forms[1]);
  EXPECT_EQ(p.line, 2u);
  EXPECT_EQ(p.column, 2u);
  p = pos_of(heap, r.forms[2]);
  EXPECT_EQ(p.line, 3u);
  EXPECT_EQ(p.column, 3u);
  p = pos_of(heap, r.forms[3]);
  EXPECT_EQ(p.column, 8u);
}

// ---------------------------------------------------------------------------
// Delimiter errors and incomplete input

TEST(Reader, DelimiterErrors) {
  EXPECT_EQ(err("(a)\n\n\n\n\n\n)"), "7:1: unexpected ')' at 7:1");
  EXPECT_EQ(err("(a]"), "1:3: mismatched ']' at 1:3: expected ')' to close the '(' at 1:1");
  EXPECT_EQ(err("[a)"), "1:3: mismatched ')' at 1:3: expected ']' to close the '[' at 1:1");
  EXPECT_EQ(err("#{a)"), "1:4: mismatched ')' at 1:4: expected '}' to close the '#{' at 1:1");
  EXPECT_EQ(err("(a ')"), "1:5: unexpected ')' at 1:5: a form must follow the ' at 1:4");
  EXPECT_EQ(err("(defn f ()\n  (g)"), "1:1: unterminated list starting at 1:1");
  EXPECT_EQ(err("(a [b"), "1:4: unterminated vector starting at 1:4");
  EXPECT_EQ(err("{:a"), "1:1: unterminated map starting at 1:1");
  EXPECT_EQ(err("x '"), "1:3: end of input after ' at 1:3: a form must follow it");
  EXPECT_EQ(err("#"), "1:1: end of input after # at 1:1");
  EXPECT_EQ(err("\\"), "1:1: end of input after \\ at 1:1");
}

TEST(Reader, ReadAllReportsIncompleteInput) {
  Heap heap;
  ReadResult r = read_all(heap, "(a b", "t");
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.error.incomplete);
  r = read_all(heap, "(a b))", "t");
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.error.incomplete);
  EXPECT_EQ(r.error.to_string(heap), "t:1:6: unexpected ')' at 1:6");
}

TEST(Reader, ReadOneForTheRepl) {
  Heap heap;
  std::string src = "(+ 1 2) ; sum\n  x";
  ReadOneResult r = read_one(heap, src, "<repl>");
  ASSERT_EQ(r.status, ReadStatus::Ok);
  EXPECT_EQ(show(r.form), "(+ 1 2)");
  EXPECT_EQ(r.end, 7u);
  r = read_one(heap, src, "<repl>", r.end);
  ASSERT_EQ(r.status, ReadStatus::Ok);
  EXPECT_EQ(show(r.form), "x");
  r = read_one(heap, src, "<repl>", r.end);
  EXPECT_EQ(r.status, ReadStatus::End);
  EXPECT_EQ(r.end, src.size());

  for (const char* partial :
       {"(defn f (x)", "\"abc", "'", "#", "#_", "[1 {:a", "\\", "#(f", "(a \"b\\"}) {
    r = read_one(heap, partial, "<repl>");
    EXPECT_EQ(r.status, ReadStatus::Incomplete) << partial;
    EXPECT_TRUE(r.error.incomplete) << partial;
    EXPECT_EQ(r.end, 0u);
  }
  r = read_one(heap, "(a))", "<repl>", 3);
  EXPECT_EQ(r.status, ReadStatus::Error);
  EXPECT_EQ(r.error.pos.column, 4u);
  r = read_one(heap, "\n\n  ; nothing\n", "<repl>");
  EXPECT_EQ(r.status, ReadStatus::End);
}

TEST(Reader, ReadOnePositionsCountFromTheStartOfTheSource) {
  Heap heap;
  std::string src = "(a)\n\n  (b)";
  ReadOneResult r = read_one(heap, src, "<repl>", 3);
  ASSERT_EQ(r.status, ReadStatus::Ok);
  SourcePos p;
  ASSERT_TRUE(heap.position(r.form.o, &p));
  EXPECT_EQ(p.line, 3u);
  EXPECT_EQ(p.column, 3u);
}

// ---------------------------------------------------------------------------
// Nesting

TEST(Reader, NestingUpToTheLimitReads) {
  std::string src(kMaxReadDepth, '(');
  src += std::string(kMaxReadDepth, ')');
  Heap heap;
  ReadResult r = read_all(heap, src, "t");
  ASSERT_TRUE(r.ok) << r.error.message;
  int depth = 0;
  for (Value v = r.forms[0]; v.o != nullptr; v = static_cast<Cons*>(v.o)->first) {
    depth++;
  }
  EXPECT_EQ(depth, static_cast<int>(kMaxReadDepth) - 1);  // the innermost () is empty
}

TEST(Reader, NestingPastTheLimitIsAnError) {
  std::string src(kMaxReadDepth + 1, '(');
  EXPECT_EQ(err(src), "1:10001: forms are nested too deeply (more than 10000 levels) at 1:10001");
  // Reader macros count too; a million of them costs no C++ stack.
  EXPECT_EQ(err(std::string(1000000, '\'') + "x"),
            "1:10001: forms are nested too deeply (more than 10000 levels) at 1:10001");
  EXPECT_EQ(err(std::string(1000000, '[')),
            "1:10001: forms are nested too deeply (more than 10000 levels) at 1:10001");
}

}  // namespace
}  // namespace valk::lisp
