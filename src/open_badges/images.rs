//! Badge images: the checks an upload passes, and the placeholder served when there is none.
//!
//! The type comes from the bytes, not the request's header (a header that disagrees is
//! refused): a PNG (its signature, then its `IHDR` chunk, 1 to 1024 pixels a side) or an SVG
//! with nothing that could run or fetch anything (no DOCTYPE or entities, scripts, event
//! handlers, `javascript:`, `foreignObject`, character references, style imports, and
//! references only within the document or to embedded raster images). The images are also
//! served with `Content-Security-Policy: default-src 'none'` and `nosniff`.

use crate::error::{AppError, FieldError};

/// The largest image accepted (the `badge-image` limit may only lower it).
pub const MAX_BYTES: usize = 256 * 1024;
/// The largest side of a PNG, in pixels.
pub const MAX_SIDE: u32 = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Png,
    Svg,
}

impl ImageKind {
    pub fn content_type(self) -> &'static str {
        match self {
            ImageKind::Png => "image/png",
            ImageKind::Svg => "image/svg+xml",
        }
    }

    pub fn parse(content_type: &str) -> Option<ImageKind> {
        match content_type {
            "image/png" => Some(ImageKind::Png),
            "image/svg+xml" => Some(ImageKind::Svg),
            _ => None,
        }
    }
}

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

fn refused(message: impl Into<String>) -> AppError {
    AppError::Validation(vec![FieldError::new("body", message)])
}

/// Check an upload declared as `declared`; the kind it is.
pub fn check(declared: ImageKind, bytes: &[u8]) -> Result<ImageKind, AppError> {
    if bytes.is_empty() {
        return Err(refused("an image is required"));
    }
    if bytes.len() > MAX_BYTES {
        return Err(refused(format!("must be at most {MAX_BYTES} bytes")));
    }
    let actual = if bytes.starts_with(&PNG_SIGNATURE) {
        check_png(bytes)?;
        ImageKind::Png
    } else {
        check_svg(bytes)?;
        ImageKind::Svg
    };
    if actual != declared {
        return Err(refused(format!(
            "the bytes are {}, not the declared {}",
            actual.content_type(),
            declared.content_type()
        )));
    }
    Ok(actual)
}

fn check_png(bytes: &[u8]) -> Result<(), AppError> {
    // Signature, then the first chunk: length 13, type IHDR, width and height (big-endian).
    let header = bytes
        .get(8..24)
        .ok_or_else(|| refused("a PNG image must start with its IHDR chunk"))?;
    let word =
        |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    if word(0) != 13 || &header[4..8] != b"IHDR" || bytes.len() < 8 + 8 + 13 + 4 {
        return Err(refused("a PNG image must start with its IHDR chunk"));
    }
    let (width, height) = (word(8), word(12));
    if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
        return Err(refused(format!(
            "a PNG image must be 1 to {MAX_SIDE} pixels a side, not {width}x{height}"
        )));
    }
    Ok(())
}

/// What an SVG must not contain (compared in lower case).
const FORBIDDEN: &[(&str, &str)] = &[
    ("<!doctype", "a DOCTYPE"),
    ("<!entity", "an entity declaration"),
    ("<!attlist", "a DTD declaration"),
    ("<script", "a script"),
    ("<foreignobject", "a foreignObject"),
    ("<iframe", "an iframe"),
    ("<embed", "an embed"),
    ("<object", "an object"),
    ("javascript:", "a javascript: URL"),
    ("vbscript:", "a vbscript: URL"),
    ("&#", "a character reference"),
    ("@import", "a style import"),
    ("attributename=\"href\"", "an animated reference"),
    ("attributename=\"xlink:href\"", "an animated reference"),
    ("attributename='href'", "an animated reference"),
    ("attributename='xlink:href'", "an animated reference"),
];

fn check_svg(bytes: &[u8]) -> Result<(), AppError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| refused("must be a PNG image or an SVG image in UTF-8"))?;
    let lower = text.to_ascii_lowercase();
    if !root_is_svg(&lower) {
        return Err(refused(
            "must be a PNG image or an SVG image (an <svg> root element)",
        ));
    }
    for (needle, what) in FORBIDDEN {
        if lower.contains(needle) {
            return Err(refused(format!("an SVG image must not contain {what}")));
        }
    }
    if let Some(handler) = event_handler(&lower) {
        return Err(refused(format!(
            "an SVG image must not contain event handlers ({handler})"
        )));
    }
    for value in attribute_values(&lower, "href") {
        if !local_reference(&value) {
            return Err(refused(
                "an SVG image may reference only its own elements (#id) or embedded raster images (data:image/png, jpeg, gif or webp)",
            ));
        }
    }
    for value in url_functions(&lower) {
        if !local_reference(&value) {
            return Err(refused(
                "an SVG image's url(...) may reference only its own elements (#id) or embedded raster images",
            ));
        }
    }
    Ok(())
}

/// After an optional BOM, XML declaration, comments and white space, the root is `<svg`.
fn root_is_svg(lower: &str) -> bool {
    let mut rest = lower.trim_start_matches('\u{feff}').trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("<?xml") {
            match after.find("?>") {
                Some(end) => rest = after[end + 2..].trim_start(),
                None => return false,
            }
        } else if let Some(after) = rest.strip_prefix("<!--") {
            match after.find("-->") {
                Some(end) => rest = after[end + 3..].trim_start(),
                None => return false,
            }
        } else {
            break;
        }
    }
    rest.strip_prefix("<svg")
        .and_then(|after| after.chars().next())
        .is_some_and(|c| c.is_whitespace() || c == '>' || c == '/')
        && lower.contains("</svg>")
}

/// An `on...=` attribute (after white space, a quote or `/`), if any.
fn event_handler(lower: &str) -> Option<String> {
    let bytes = lower.as_bytes();
    for (i, _) in lower.match_indices("on") {
        let before = if i == 0 { b' ' } else { bytes[i - 1] };
        if !(before.is_ascii_whitespace() || before == b'"' || before == b'\'' || before == b'/') {
            continue;
        }
        let name_end = lower[i + 2..]
            .find(|c: char| !c.is_ascii_alphabetic())
            .map_or(lower.len(), |n| i + 2 + n);
        if name_end == i + 2 {
            continue;
        }
        if lower[name_end..].trim_start().starts_with('=') {
            return Some(lower[i..name_end].to_string());
        }
    }
    None
}

/// Every value of attributes whose name ends in `name` (`href`, `xlink:href`).
fn attribute_values(lower: &str, name: &str) -> Vec<String> {
    let mut values = Vec::new();
    for (i, _) in lower.match_indices(name) {
        let rest = lower[i + name.len()..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        let rest = rest.trim_start();
        let value = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or_default(),
            _ => rest
                .split(|c: char| c.is_whitespace() || c == '>')
                .next()
                .unwrap_or_default(),
        };
        values.push(value.trim().to_string());
    }
    values
}

/// The arguments of every `url(...)` (in style attributes and `<style>`).
fn url_functions(lower: &str) -> Vec<String> {
    lower
        .match_indices("url(")
        .map(|(i, _)| {
            let rest = &lower[i + 4..];
            let arg = rest.split(')').next().unwrap_or_default().trim();
            arg.trim_matches(|c| c == '"' || c == '\'')
                .trim()
                .to_string()
        })
        .collect()
}

fn local_reference(value: &str) -> bool {
    value.starts_with('#')
        || [
            "data:image/png",
            "data:image/jpeg",
            "data:image/gif",
            "data:image/webp",
        ]
        .iter()
        .any(|p| value.starts_with(p))
}

/// The image served for a badge without one: its name on a disc, escaped.
pub fn placeholder(name: &str) -> String {
    let short: String = name.chars().take(24).collect();
    let mut escaped = String::with_capacity(short.len());
    for c in short.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c if c.is_control() => {}
            c => escaped.push(c),
        }
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"256\" height=\"256\" viewBox=\"0 0 256 256\" role=\"img\" aria-label=\"{escaped}\">\
<circle cx=\"128\" cy=\"128\" r=\"120\" fill=\"#1f5f99\"/>\
<circle cx=\"128\" cy=\"128\" r=\"104\" fill=\"none\" stroke=\"#ffffff\" stroke-width=\"4\"/>\
<text x=\"128\" y=\"136\" font-family=\"sans-serif\" font-size=\"18\" fill=\"#ffffff\" text-anchor=\"middle\">{escaped}</text></svg>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut b = PNG_SIGNATURE.to_vec();
        b.extend(13u32.to_be_bytes());
        b.extend(b"IHDR");
        b.extend(width.to_be_bytes());
        b.extend(height.to_be_bytes());
        b.extend([8, 6, 0, 0, 0, 0, 0, 0, 0]);
        b
    }

    const SVG: &str = "<?xml version=\"1.0\"?>\n<!-- a badge -->\n<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" viewBox=\"0 0 10 10\"><defs><linearGradient id=\"g\"/></defs><circle r=\"4\" fill=\"url(#g)\" style=\"stroke: url('#g')\"/><use xlink:href=\"#g\"/><image href=\"data:image/png;base64,AAAA\"/><text>One option</text></svg>";

    #[test]
    fn a_png_and_a_plain_svg_pass() {
        assert!(matches!(
            check(ImageKind::Png, &png(256, 256)),
            Ok(ImageKind::Png)
        ));
        assert!(matches!(
            check(ImageKind::Svg, SVG.as_bytes()),
            Ok(ImageKind::Svg)
        ));
    }

    fn refuses(kind: ImageKind, bytes: &[u8]) {
        match check(kind, bytes) {
            Err(AppError::Validation(errors)) => assert_eq!(errors[0].field, "body"),
            other => panic!(
                "{:?} was not refused: {other:?}",
                String::from_utf8_lossy(bytes)
            ),
        }
    }

    #[test]
    fn refusals() {
        refuses(ImageKind::Png, b"");
        refuses(ImageKind::Png, &png(0, 10));
        refuses(ImageKind::Png, &png(2048, 10));
        refuses(ImageKind::Png, &png(10, 10)[..20]);
        let mut not_ihdr = png(10, 10);
        not_ihdr[12..16].copy_from_slice(b"tEXt");
        refuses(ImageKind::Png, &not_ihdr);
        refuses(ImageKind::Png, &vec![0u8; MAX_BYTES + 1]);
        // A lying header either way.
        refuses(ImageKind::Svg, &png(10, 10));
        refuses(ImageKind::Png, SVG.as_bytes());
        refuses(ImageKind::Svg, b"GIF89a....");
        refuses(ImageKind::Svg, &[0xff, 0xfe, b'<', b's']);
        for bad in [
            "<html><svg></svg></html>",
            "<svgx></svgx>",
            "<svg>",
            "<!DOCTYPE svg [<!ENTITY x \"y\">]><svg>&x;</svg>",
            "<svg><script>alert(1)</script></svg>",
            "<svg><SCRIPT>alert(1)</SCRIPT></svg>",
            "<svg onload=\"alert(1)\"></svg>",
            "<svg><rect ONCLICK = 'x()'/></svg>",
            "<svg><rect/onmouseover='x()'/></svg>",
            "<svg><a href=\"javascript:alert(1)\">x</a></svg>",
            "<svg><a href=\"java&#x73;cript:alert(1)\">x</a></svg>",
            "<svg><image href=\"https://evil.example/x.png\"/></svg>",
            "<svg><use xlink:href = 'https://evil.example/s.svg#a'/></svg>",
            "<svg><image href=data:image/svg+xml;base64,AAAA /></svg>",
            "<svg><foreignObject><div/></foreignObject></svg>",
            "<svg><rect style=\"fill: url(https://evil.example/track)\"/></svg>",
            "<svg><style>@import 'https://evil.example/x.css';</style></svg>",
            "<svg><set attributeName=\"href\" to=\"https://x\"/></svg>",
        ] {
            refuses(ImageKind::Svg, bad.as_bytes());
        }
    }

    #[test]
    fn the_placeholder_escapes_the_name_and_passes_the_checks() {
        let svg = placeholder("<script>\"Tom & Jerry's\"</script>");
        assert!(!svg.contains("<script"));
        assert!(svg.contains("&lt;script&gt;&quot;Tom &amp; Jerry&apos;s&quot;"));
        // Character references are refused in uploads, but the placeholder is ours; a plain
        // name passes the upload checks too.
        assert!(check(ImageKind::Svg, placeholder("First win").as_bytes()).is_ok());
    }
}
