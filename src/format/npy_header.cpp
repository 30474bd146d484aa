#include "npy_header.hpp"

#include <cstring>
#include <limits>
#include <stdexcept>

namespace shmpool::detail {
namespace {

constexpr std::string_view npy_magic = "\x93NUMPY";

// A cursor over the header's dict literal: {'descr': '<f8', 'fortran_order': False, 'shape': (2,)}
class dict_parser {
public:
    explicit dict_parser(std::string_view text) : text_(text) {}

    npy_parse_result parse(std::size_t data_offset) {
        npy_header h;
        h.data_offset = data_offset;
        bool seen_descr = false, seen_order = false, seen_shape = false;
        if (!eat('{')) return fail("header is not a dict");
        while (!eat('}')) {
            std::string key;
            if (!string_literal(key)) return fail("expected a quoted key in the header dict");
            if (!eat(':')) return fail("expected ':' after key '" + key + "'");
            if (key == "descr") {
                if (seen_descr) return fail("duplicate key 'descr'");
                if (!string_literal(h.descr))
                    return fail(
                        "'descr' is not a plain dtype string (structured dtypes are not "
                        "supported)");
                seen_descr = true;
            } else if (key == "fortran_order") {
                if (seen_order) return fail("duplicate key 'fortran_order'");
                if (!boolean(h.fortran_order)) return fail("'fortran_order' is not True or False");
                seen_order = true;
            } else if (key == "shape") {
                if (seen_shape) return fail("duplicate key 'shape'");
                if (!tuple(h.shape)) return fail("'shape' is not a tuple of non-negative integers");
                seen_shape = true;
            } else {
                return fail("unexpected key '" + key + "' in the header dict");
            }
            if (!eat(',') && !peek('}')) return fail("expected ',' or '}' in the header dict");
        }
        skip_space();
        if (pos_ != text_.size()) return fail("text after the header dict");
        if (!(seen_descr && seen_order && seen_shape))
            return fail("the header dict lacks 'descr', 'fortran_order' or 'shape'");
        return {std::move(h), {}};
    }

private:
    static npy_parse_result fail(std::string why) { return {std::nullopt, std::move(why)}; }

    void skip_space() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                       text_[pos_] == '\n' || text_[pos_] == '\r'))
            ++pos_;
    }
    bool peek(char c) {
        skip_space();
        return pos_ < text_.size() && text_[pos_] == c;
    }
    bool eat(char c) {
        if (!peek(c)) return false;
        ++pos_;
        return true;
    }
    bool eat_word(std::string_view w) {
        skip_space();
        if (text_.substr(pos_, w.size()) != w) return false;
        pos_ += w.size();
        return true;
    }
    bool string_literal(std::string& out) {
        skip_space();
        if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) return false;
        const char quote = text_[pos_++];
        const std::size_t end = text_.find(quote, pos_);
        if (end == std::string_view::npos) return false;
        out.assign(text_.substr(pos_, end - pos_));
        if (out.find('\\') != std::string::npos) return false;  // no escapes in a dtype or key
        pos_ = end + 1;
        return true;
    }
    bool boolean(bool& out) {
        if (eat_word("True")) return out = true, true;
        if (eat_word("False")) return out = false, true;
        return false;
    }
    bool integer(std::size_t& out) {
        skip_space();
        const std::size_t start = pos_;
        out = 0;
        while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
            const std::size_t digit = static_cast<std::size_t>(text_[pos_] - '0');
            if (out > (std::numeric_limits<std::size_t>::max() - digit) / 10) return false;
            out = out * 10 + digit;
            ++pos_;
        }
        if (pos_ == start) return false;                        // at least one digit
        if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;  // written by Python 2
        return true;
    }
    bool tuple(std::vector<std::size_t>& out) {
        if (!eat('(')) return false;
        out.clear();
        bool trailing_comma = false;
        while (!eat(')')) {
            std::size_t n;
            if (!integer(n)) return false;
            out.push_back(n);
            trailing_comma = eat(',');
            if (!trailing_comma && !peek(')')) return false;
        }
        return out.size() != 1 || trailing_comma;  // "(3)" is not a tuple in Python
    }

    std::string_view text_;
    std::size_t pos_ = 0;
};

std::uint32_t read_le(std::string_view bytes, std::size_t at, std::size_t width) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < width; ++i)
        v |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at + i])) << (8 * i);
    return v;
}

}  // namespace

npy_parse_result parse_npy_header(std::string_view bytes) {
    if (bytes.size() < 10) return {std::nullopt, "truncated: shorter than a .npy preamble"};
    if (bytes.substr(0, npy_magic.size()) != npy_magic)
        return {std::nullopt, "not a .npy file (bad magic)"};
    const int major = static_cast<unsigned char>(bytes[6]);
    const int minor = static_cast<unsigned char>(bytes[7]);
    if (minor != 0 || major < 1 || major > 3)
        return {std::nullopt,
                "unsupported .npy version " + std::to_string(major) + "." + std::to_string(minor)};
    const std::size_t len_width = major == 1 ? 2 : 4;
    const std::size_t preamble = 8 + len_width;
    if (bytes.size() < preamble) return {std::nullopt, "truncated: shorter than a .npy preamble"};
    const std::size_t header_len = read_le(bytes, 8, len_width);
    if (header_len > bytes.size() - preamble)
        return {std::nullopt, "truncated: the header is longer than the bytes available"};
    const std::size_t data_offset = preamble + header_len;
    std::string_view text = bytes.substr(preamble, header_len);
    if (text.empty() || text.back() != '\n')
        return {std::nullopt, "the header does not end with a newline"};
    if (text.find('\0') != std::string_view::npos)
        return {std::nullopt, "the header holds a NUL byte"};
    return dict_parser(text).parse(data_offset);
}

std::string format_npy_header(std::string_view descr, const std::vector<std::size_t>& shape) {
    std::string dict = "{'descr': '";
    dict += descr;
    dict += "', 'fortran_order': False, 'shape': (";
    for (std::size_t i = 0; i < shape.size(); ++i)
        dict += (i ? ", " : "") + std::to_string(shape[i]);
    dict += shape.size() == 1 ? ",), }" : "), }";  // "(3,)" as Python writes a 1-tuple

    std::string out(npy_magic);
    out += '\x01';
    out += '\x00';
    const std::size_t header_len = npy_header_size - out.size() - 2;
    out += static_cast<char>(header_len & 0xff);
    out += static_cast<char>(header_len >> 8);
    if (dict.size() > header_len - 1 || descr.find_first_of("'\\") != std::string_view::npos)
        throw std::length_error("npy header for descr '" + std::string(descr) + "' does not fit");
    out += dict;
    out.resize(npy_header_size - 1, ' ');
    out += '\n';
    return out;
}

}  // namespace shmpool::detail
