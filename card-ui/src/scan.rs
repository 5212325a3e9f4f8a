//! Scanning a QR code with the camera: a request link or an address shown on another person's card. The frames
//! are decoded in the page (quircs), since the browser's own barcode reader is missing on most desktops; nothing
//! leaves the device.

use std::{cell::Cell, rc::Rc, time::Duration};

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use yew::prelude::*;

use crate::web;

/// Frames are scaled down to at most this width before decoding: a code that fills a fair part of the view is
/// still dozens of pixels per module, and a phone's full-resolution frame would take far longer to read.
const FRAME_WIDTH: u32 = 480;
/// Time between two decoded frames: fast enough to feel instant, slow enough to leave the page responsive.
const FRAME_INTERVAL: Duration = Duration::from_millis(200);

/// The text of the first QR code found in a greyscale image `width` × `height` (one byte per pixel, row by row).
pub fn decode(luma: &[u8], width: usize, height: usize) -> Option<String> {
    // quircs asserts the image's length: anything else is checked here instead.
    if width == 0 || height == 0 || luma.len() != width.checked_mul(height)? {
        return None;
    }
    let mut decoder = quircs::Quirc::default();
    let codes = decoder.identify(width, height, luma);
    codes
        .filter_map(Result::ok)
        .filter_map(|code| code.decode().ok())
        .find_map(|data| String::from_utf8(data.payload).ok())
}

/// The greyscale of RGBA pixels (the canvas's layout), weighted as the eye sees brightness.
pub fn greyscale(rgba: &[u8]) -> Vec<u8> {
    rgba.chunks_exact(4)
        .map(|p| ((77 * p[0] as u32 + 150 * p[1] as u32 + 29 * p[2] as u32) >> 8) as u8)
        .collect()
}

#[derive(Properties, PartialEq)]
pub struct ScannerProps {
    /// The text of the code, once one is read; the scanner stops the camera first.
    pub on_found: Callback<String>,
}

#[function_component(Scanner)]
pub fn scanner(props: &ScannerProps) -> Html {
    let video = use_node_ref();
    let error = use_state(|| None::<String>);
    {
        let (video, error, on_found) = (video.clone(), error.clone(), props.on_found.clone());
        use_effect_with((), move |_| {
            let stopped = Rc::new(Cell::new(false));
            let running = stopped.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Err(why) = run(&video, &running, &on_found).await {
                    error.set(Some(why));
                }
            });
            move || stopped.set(true)
        });
    }
    html! {
        <div class="scanner">
            if let Some(why) = (*error).clone() {
                <p class="problem" role="alert" id="scan-error">{ why }</p>
            } else {
                <video ref={video} id="scan-video" muted=true autoplay=true playsinline=true />
                <p class="hint">{ "Point the camera at a request's QR code." }</p>
            }
        </div>
    }
}

/// Opens the camera into `video` and decodes frames until a code is read or the scanner is closed; the camera
/// is released either way.
async fn run(
    video: &NodeRef,
    stopped: &Cell<bool>,
    on_found: &Callback<String>,
) -> Result<(), String> {
    let stream = open_camera().await?;
    let found = read_frames(video, &stream, stopped).await;
    for track in stream.get_tracks().iter() {
        if let Ok(track) = track.dyn_into::<web_sys::MediaStreamTrack>() {
            track.stop();
        }
    }
    if let Some(text) = found? {
        on_found.emit(text);
    }
    Ok(())
}

async fn open_camera() -> Result<web_sys::MediaStream, String> {
    let devices = web_sys::window()
        .and_then(|w| w.navigator().media_devices().ok())
        .ok_or("This browser gives pages no camera (it needs https or localhost): paste the link instead.")?;
    let constraints = web_sys::MediaStreamConstraints::new();
    // The back camera on a phone; desktops have one camera and ignore the preference.
    let video = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&video, &"facingMode".into(), &"environment".into());
    constraints.set_video(&video);
    constraints.set_audio(&JsValue::FALSE);
    let asked = devices
        .get_user_media_with_constraints(&constraints)
        .map_err(camera_error)?;
    let stream = JsFuture::from(asked).await.map_err(camera_error)?;
    Ok(stream.unchecked_into())
}

fn camera_error(e: JsValue) -> String {
    let name = js_sys::Reflect::get(&e, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_default();
    match name.as_str() {
        "NotAllowedError" | "SecurityError" => {
            "The camera was not allowed. Allow it for this page, or paste the link instead.".into()
        }
        "NotFoundError" | "OverconstrainedError" => {
            "This device has no camera: paste the link instead.".into()
        }
        "NotReadableError" | "AbortError" => {
            "The camera is busy in another app: close it, or paste the link instead.".into()
        }
        _ => format!(
            "The camera could not start ({}): paste the link instead.",
            web::describe(&e)
        ),
    }
}

async fn read_frames(
    video: &NodeRef,
    stream: &web_sys::MediaStream,
    stopped: &Cell<bool>,
) -> Result<Option<String>, String> {
    let element = video
        .cast::<web_sys::HtmlVideoElement>()
        .ok_or("the scanner closed")?;
    element.set_src_object(Some(stream));
    let _ = element.play();
    let canvas: web_sys::HtmlCanvasElement = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.create_element("canvas").ok())
        .and_then(|c| c.dyn_into().ok())
        .ok_or("the page cannot draw the camera's frames")?;
    let context: web_sys::CanvasRenderingContext2d = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into().ok())
        .ok_or("the page cannot draw the camera's frames")?;
    while !stopped.get() {
        web::sleep(FRAME_INTERVAL).await;
        // HAVE_CURRENT_DATA: a frame to draw.
        if element.ready_state() < 2 || element.video_width() == 0 {
            continue;
        }
        let (vw, vh) = (element.video_width(), element.video_height());
        let width = vw.min(FRAME_WIDTH);
        let height = (vh as u64 * width as u64 / vw as u64).max(1) as u32;
        canvas.set_width(width);
        canvas.set_height(height);
        if context
            .draw_image_with_html_video_element_and_dw_and_dh(
                &element,
                0.0,
                0.0,
                width as f64,
                height as f64,
            )
            .is_err()
        {
            continue;
        }
        let Ok(pixels) = context.get_image_data(0.0, 0.0, width as f64, height as f64) else {
            continue;
        };
        let luma = greyscale(&pixels.data());
        if let Some(text) = decode(&luma, width as usize, height as usize) {
            return Ok(Some(text));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use qrcode::{Color, QrCode};

    use super::*;

    /// `text` drawn as a QR code, `scale` pixels per module, with a white margin: what a camera would see.
    fn picture(text: &str, scale: usize) -> (Vec<u8>, usize) {
        let code = QrCode::new(text.as_bytes()).expect("encodes");
        let modules = code.width();
        let side = (modules + 8) * scale;
        let mut luma = vec![255u8; side * side];
        for (i, color) in code.to_colors().iter().enumerate() {
            if *color == Color::Dark {
                let (mx, my) = (i % modules + 4, i / modules + 4);
                for y in my * scale..(my + 1) * scale {
                    for x in mx * scale..(mx + 1) * scale {
                        luma[y * side + x] = 0;
                    }
                }
            }
        }
        (luma, side)
    }

    #[test]
    fn reads_back_a_request_link() {
        let link =
            "http://127.0.0.1:8080/send?to=0x70997970C51812dc3A010C7d01b50e0d17dc79C8&amount=2.5";
        let (luma, side) = picture(link, 4);
        assert_eq!(decode(&luma, side, side).as_deref(), Some(link));
    }

    #[test]
    fn finds_nothing_in_a_blank_or_short_image() {
        assert_eq!(decode(&vec![255; 100 * 100], 100, 100), None);
        assert_eq!(decode(&[0; 10], 100, 100), None);
        assert_eq!(decode(&[], 0, 0), None);
    }

    #[test]
    fn greyscale_weighs_green_most() {
        assert_eq!(
            greyscale(&[255, 255, 255, 255, 0, 0, 0, 255, 0, 255, 0, 255]),
            vec![255, 0, 149]
        );
    }
}
