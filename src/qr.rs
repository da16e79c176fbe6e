//! QR codes for enrolment: an `otpauth://` URI as terminal text, SVG or PNG.
//!
//! The module matrix comes from the `qrcode` crate (error correction level
//! M); this module only draws it, always with the four-module light quiet
//! zone that scanners need. [`terminal`] prints two module rows per text
//! line with Unicode half blocks, drawing the light modules as ink so that
//! the code reads dark-on-light on the usual light-on-dark terminal;
//! [`svg`] and [`png`] give files for web pages and e-mail.

use qrcode::{Color, EcLevel, QrCode};

/// Light modules around the code, as the QR specification requires.
const QUIET: usize = 4;

/// The largest PNG scale (pixels per module) accepted.
pub const MAX_SCALE: u32 = 32;

/// Why a QR code could not be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QrError {
    /// The text does not fit in the largest QR code (version 40, level M).
    #[error("text too long for a QR code ({len} bytes; at most 2331 fit)")]
    TooLong {
        /// Length of the text in bytes.
        len: usize,
    },
    /// The PNG scale is outside 1..=MAX_SCALE.
    #[error("PNG scale must be 1 to {MAX_SCALE} pixels per module, not {0}")]
    BadScale(u32),
    /// Any other failure of the QR encoder or the PNG writer.
    #[error("cannot draw the QR code: {0}")]
    Other(String),
}

/// The module matrix with its quiet zone.
struct Matrix {
    /// Modules per side, without the quiet zone.
    width: usize,
    /// Row-major, `true` for dark.
    dark: Vec<bool>,
}

impl Matrix {
    fn new(text: &str) -> Result<Self, QrError> {
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(
            |e| match e {
                qrcode::types::QrError::DataTooLong => QrError::TooLong { len: text.len() },
                other => QrError::Other(other.to_string()),
            },
        )?;
        let dark = code
            .to_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect();
        Ok(Matrix {
            width: code.width(),
            dark,
        })
    }

    /// Modules per side including the quiet zone on both sides.
    fn size(&self) -> usize {
        self.width + 2 * QUIET
    }

    /// Whether the module at (x, y) is dark, in coordinates that include
    /// the quiet zone; everything outside the code is light.
    fn is_dark(&self, x: usize, y: usize) -> bool {
        let (Some(x), Some(y)) = (x.checked_sub(QUIET), y.checked_sub(QUIET)) else {
            return false;
        };
        x < self.width && y < self.width && self.dark.get(y * self.width + x) == Some(&true)
    }
}

/// The QR code as terminal text: Unicode half blocks, two module rows per
/// line, with the quiet zone. Light modules are drawn as ink, so the code is
/// dark-on-light (scannable) on a terminal with light text on a dark
/// background.
pub fn terminal(text: &str) -> Result<String, QrError> {
    let m = Matrix::new(text)?;
    let size = m.size();
    let mut out = String::with_capacity((size * 3 + 1) * size.div_ceil(2));
    for y in (0..size).step_by(2) {
        for x in 0..size {
            let top_light = !m.is_dark(x, y);
            // Below the last row is the terminal's own (dark) background.
            let bottom_light = y + 1 < size && !m.is_dark(x, y + 1);
            out.push(match (top_light, bottom_light) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push('\n');
    }
    Ok(out)
}

/// The QR code as an SVG document (one module = one user unit, black on
/// white, with the quiet zone), to be scaled freely.
pub fn svg(text: &str) -> Result<String, QrError> {
    let m = Matrix::new(text)?;
    let size = m.size();
    let mut path = String::new();
    for y in 0..size {
        let mut x = 0;
        while x < size {
            if !m.is_dark(x, y) {
                x += 1;
                continue;
            }
            let start = x;
            while x < size && m.is_dark(x, y) {
                x += 1;
            }
            let run = x - start;
            path.push_str(&format!("M{start},{y}h{run}v1h-{run}z"));
        }
    }
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" \
         viewBox=\"0 0 {size} {size}\" width=\"{px}\" height=\"{px}\" \
         shape-rendering=\"crispEdges\">\
         <rect width=\"{size}\" height=\"{size}\" fill=\"#ffffff\"/>\
         <path fill=\"#000000\" d=\"{path}\"/></svg>\n",
        px = size * 8,
    ))
}

/// The QR code as a PNG (8-bit grayscale, black on white, with the quiet
/// zone), `scale` pixels per module (1..=[`MAX_SCALE`]).
pub fn png(text: &str, scale: u32) -> Result<Vec<u8>, QrError> {
    if !(1..=MAX_SCALE).contains(&scale) {
        return Err(QrError::BadScale(scale));
    }
    let m = Matrix::new(text)?;
    let scale = scale as usize;
    let pixels = m.size() * scale;
    let mut image = Vec::with_capacity(pixels * pixels);
    for py in 0..pixels {
        for px in 0..pixels {
            image.push(if m.is_dark(px / scale, py / scale) {
                0
            } else {
                255
            });
        }
    }
    // At most (177 + 8) * 32 pixels per side, far below u32::MAX.
    let side = u32::try_from(pixels).map_err(|e| QrError::Other(e.to_string()))?;
    let mut out = Vec::new();
    {
        let mut encoder = ::png::Encoder::new(&mut out, side, side);
        encoder.set_color(::png::ColorType::Grayscale);
        encoder.set_depth(::png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .map_err(|e| QrError::Other(e.to_string()))?;
        writer
            .write_image_data(&image)
            .map_err(|e| QrError::Other(e.to_string()))?;
        writer.finish().map_err(|e| QrError::Other(e.to_string()))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // ISO/IEC 18004 Table 7: version 1-M holds 14 bytes (21 modules),
    // version 6-M holds 106 bytes (41 modules), version 40-M at most 2331.
    const V1_TEXT: &str = "hello world";
    const V1_WIDTH: usize = 21;
    const V6_LEN: usize = 100;
    const V6_WIDTH: usize = 41;

    fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoder = ::png::Decoder::new(bytes);
        let mut reader = decoder.read_info().expect("PNG header");
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).expect("PNG frame");
        assert_eq!(info.color_type, ::png::ColorType::Grayscale);
        assert_eq!(info.bit_depth, ::png::BitDepth::Eight);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    #[test]
    fn png_has_signature_and_decodes_to_expected_size() {
        let bytes = png(V1_TEXT, 3).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let (w, h, pixels) = decode_png(&bytes);
        let side = ((V1_WIDTH + 2 * QUIET) * 3) as u32;
        assert_eq!((w, h), (side, side));
        // Quiet zone is white; the finder pattern's top-left module is dark.
        assert_eq!(pixels[0], 255);
        let corner = 4 * 3 * side as usize + 4 * 3;
        assert_eq!(pixels[corner], 0);
        assert!(pixels.iter().all(|p| *p == 0 || *p == 255));
    }

    #[test]
    fn png_size_follows_the_qr_version() {
        let text = format!("otpauth://totp/{}", "a".repeat(V6_LEN - 15));
        assert_eq!(text.len(), V6_LEN);
        let (w, _, _) = decode_png(&png(&text, 1).unwrap());
        assert_eq!(w as usize, V6_WIDTH + 2 * QUIET);
    }

    #[test]
    fn png_rejects_bad_scales() {
        assert_eq!(png(V1_TEXT, 0), Err(QrError::BadScale(0)));
        assert_eq!(png(V1_TEXT, MAX_SCALE + 1), Err(QrError::BadScale(33)));
    }

    #[test]
    fn too_long_text_is_a_clear_error() {
        let text = "x".repeat(2332);
        let err = terminal(&text).unwrap_err();
        assert_eq!(err, QrError::TooLong { len: 2332 });
        assert!(err.to_string().contains("too long"));
        assert!(svg(&text).is_err());
        assert!(png(&text, 1).is_err());
        assert!(terminal(&"x".repeat(2331)).is_ok());
    }

    #[test]
    fn svg_is_an_svg_document() {
        let doc = svg(V1_TEXT).unwrap();
        assert!(doc.contains("<svg"));
        assert!(doc.trim_end().ends_with("</svg>"));
        let size = V1_WIDTH + 2 * QUIET;
        assert!(doc.contains(&format!("viewBox=\"0 0 {size} {size}\"")));
        // The finder pattern's top row starts at (4,4) with seven dark modules.
        assert!(doc.contains("M4,4h7v1h-7z"));
    }

    #[test]
    fn terminal_uses_half_blocks_with_quiet_zone() {
        let out = terminal(V1_TEXT).unwrap();
        let size = V1_WIDTH + 2 * QUIET;
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), size.div_ceil(2));
        assert!(lines.iter().all(|l| l.chars().count() == size));
        // Top two lines are quiet zone: all light, drawn as full blocks.
        assert!(lines[0].chars().all(|c| c == '█'));
        assert!(lines[1].chars().all(|c| c == '█'));
        // Line 2 holds rows 4 and 5: the finder's dark top edge under ink
        // shows as blank at columns 4..11, with quiet-zone blocks before it.
        let row: Vec<char> = lines[2].chars().collect();
        assert_eq!(&row[..4], &['█'; 4]);
        assert_eq!(row[4], ' ');
        // The last line has only a quiet row on top.
        assert!(lines[lines.len() - 1].chars().all(|c| c == '▀'));
    }
}
