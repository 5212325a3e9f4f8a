//! A QR code as SVG squares: what a phone camera reads off the deposit address or a request link.

use qrcode::{Color, QrCode};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct QrProps {
    pub text: AttrValue,
}

#[function_component(Qr)]
pub fn qr(props: &QrProps) -> Html {
    let Ok(code) = QrCode::new(props.text.as_bytes()) else {
        // Too long for a QR code: the text next to it still works.
        return html! {};
    };
    let width = code.width();
    let colors = code.to_colors();
    // One path for all dark modules keeps the DOM small: "M x y h1 v1 h-1 z" per module.
    let mut d = String::new();
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            d.push_str(&format!("M{} {}h1v1h-1z", i % width + 2, i / width + 2));
        }
    }
    let size = width + 4;
    html! {
        <svg class="qr" viewBox={format!("0 0 {size} {size}")} role="img" aria-label={props.text.clone()}
             shape-rendering="crispEdges">
            <rect width={size.to_string()} height={size.to_string()} fill="#fff"/>
            <path d={d} fill="#000"/>
        </svg>
    }
}
