/* The SVG writer of the program's pictures (tools/svg.c): escaping of any
 * text into well-formed XML, tick positions and numbers, the canvas. */
#include <stdlib.h>
#include <string.h>

#include "svg.h"
#include "test_util.h"

/* What svg_escape writes for s (caller frees). */
static char *escaped(const char *s)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    svg_escape(f, s);
    long len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    char *out = malloc((size_t)len + 1);
    assert_non_null(out);
    assert_int_equal(fread(out, 1, (size_t)len, f), (size_t)len);
    out[len] = '\0';
    fclose(f);
    return out;
}

static void expect_escaped(const char *in, const char *want)
{
    char *got = escaped(in);
    if (strcmp(got, want) != 0)
        print_message("escape(\"%s\") = \"%s\", not \"%s\"\n", in, got, want);
    assert_string_equal(got, want);
    free(got);
}

static void test_escape(void **state)
{
    (void)state;
    expect_escaped("", "");
    expect_escaped("plain text 1.5", "plain text 1.5");
    expect_escaped("a&b<c>d\"e'f", "a&amp;b&lt;c&gt;d&quot;e&apos;f");
    expect_escaped("&amp;", "&amp;amp;"); /* no double meaning */
    /* Control characters (a newline too: text stays on one line). */
    expect_escaped("a\nb\tc\x01" "d\x7f", "a?b?c?d?");
    /* UTF-8 is kept: 2, 3 and 4 bytes. */
    expect_escaped("\xcf\x83 \xe2\x82\xac \xf0\x9f\x98\x80",
                   "\xcf\x83 \xe2\x82\xac \xf0\x9f\x98\x80");
    /* Not UTF-8: a stray continuation byte, a Latin-1 byte, a truncated
     * sequence, an overlong form, a surrogate, beyond U+10FFFF, and
     * U+FFFE, which XML does not allow. */
    expect_escaped("\x80", "?");
    expect_escaped("caf\xe9", "caf?");
    expect_escaped("\xe2\x82", "??");
    expect_escaped("\xc0\xaf", "??");
    expect_escaped("\xed\xa0\x80", "???");
    expect_escaped("\xf4\x90\x80\x80", "????");
    expect_escaped("\xef\xbf\xbe", "???");
}

static void test_ticks(void **state)
{
    (void)state;
    double first, step;
    assert_int_equal(svg_ticks(0, 10, 8, &first, &step), 6);
    assert_close(first, 0, 0, 0);
    assert_close(step, 2, 0, 0);
    int n = svg_ticks(-4.47, -4.11, 8, &first, &step);
    assert_close(step, 0.05, 1e-12, 0);
    assert_close(first, -4.45, 1e-12, 0);
    assert_int_equal(n, 7); /* -4.45 .. -4.15 */
    n = svg_ticks(5402, 6420, 8, &first, &step);
    assert_close(step, 200, 0, 0);
    assert_close(first, 5600, 0, 0);
    assert_int_equal(n, 5);
    /* Every tick lies in the range; never more than max + 1. */
    for (double hi = 0.001; hi < 1e7; hi *= 1.7) {
        n = svg_ticks(-hi / 3, hi, 6, &first, &step);
        assert_true(n >= 2 && n <= 7);
        assert_true(first >= -hi / 3 - 1e-9 * hi);
        assert_true(first + (n - 1) * step <= hi * (1 + 1e-9));
    }
    assert_int_equal(svg_ticks(1, 1, 8, &first, &step), 0);
    assert_int_equal(svg_ticks(0, INFINITY, 8, &first, &step), 0);
}

static void test_format_tick(void **state)
{
    (void)state;
    char buf[64];
    svg_format_tick(5000, 200, buf, sizeof buf);
    assert_string_equal(buf, "5000");
    svg_format_tick(-4.15, 0.05, buf, sizeof buf);
    assert_string_equal(buf, "-4.15");
    svg_format_tick(0.5, 0.5, buf, sizeof buf);
    assert_string_equal(buf, "0.5");
    svg_format_tick(-1e-17, 0.1, buf, sizeof buf); /* no "-0.0" */
    assert_string_equal(buf, "0.0");
    svg_format_tick(3e12, 1e12, buf, sizeof buf);
    assert_string_equal(buf, "3e+12");
}

/* A whole picture: root element, title escaped, legend, axes. */
static void test_document(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    svg_begin(f, "a <title> & more", "sub");
    svg_plot p;
    svg_plot_init(&p, f, 0, 10, 0, 5, 1);
    /* Equal aspect: the same pixels per unit along both axes. */
    assert_close(svg_sx(&p), svg_sy(&p), 1e-12, 0);
    assert_true(svg_px(&p, 0) > p.left && svg_px(&p, 10) < p.right);
    assert_true(svg_py(&p, 0) < p.bottom && svg_py(&p, 5) > p.top);
    svg_axes(&p, "x <label>", "y", 1);
    svg_legend(&p, SVG_LEGEND_LINE, svg_color(0), "line %d", 1);
    svg_legend(&p, SVG_LEGEND_RING, "black", "ring");
    svg_end(f);
    long len = ftell(f);
    rewind(f);
    char *s = malloc((size_t)len + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)len, f), (size_t)len);
    s[len] = '\0';
    fclose(f);
    assert_int_equal(strncmp(s, "<svg xmlns=\"http://www.w3.org/2000/svg\"",
                             39), 0);
    assert_string_equal(s + len - 7, "</svg>\n");
    assert_non_null(strstr(s, "<title>a &lt;title&gt; &amp; more</title>"));
    assert_non_null(strstr(s, ">x &lt;label&gt;</text>"));
    assert_non_null(strstr(s, ">line 1</text>"));
    assert_null(strstr(s, "<label>"));
    free(s);
}

/* Styled axes: no numbers under x, no y ticks, no labels: only lines. */
static void test_axes_styled(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    svg_plot p;
    svg_plot_init(&p, f, 0, 100, 0, 1, 0);
    svg_axes_style style;
    memset(&style, 0, sizeof style);
    style.integer_x = 1;
    style.y_ticks = -1;
    style.no_x_numbers = 1;
    svg_axes_styled(&p, NULL, "", &style);
    long len = ftell(f);
    rewind(f);
    char *s = malloc((size_t)len + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)len, f), (size_t)len);
    s[len] = '\0';
    fclose(f);
    assert_null(strstr(s, "<text"));
    assert_non_null(strstr(s, "<line"));
    assert_non_null(strstr(s, "<rect"));
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_ticks),
        cmocka_unit_test(test_format_tick),
        cmocka_unit_test(test_document),
        cmocka_unit_test(test_axes_styled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
