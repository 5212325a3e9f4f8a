//! The card's pages and their URLs. Every page has a path of its own, so a link (a payment request, a redeem
//! link) opens the card on that page; the node serves the card's `index.html` for each of these paths.

/// A page, with what its URL carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Home,
    Deposit,
    /// `/send?to=…&amount=…`: a request link opens Send prefilled.
    Send {
        to: String,
        amount: String,
    },
    Request,
    /// `/redeem?secret=…`
    Redeem {
        secret: String,
    },
    CashOut,
    Settings,
    History,
}

/// The paths of the card's pages, for the server that must answer them with `index.html`.
pub const PATHS: [&str; 8] = [
    "/",
    "/deposit",
    "/send",
    "/request",
    "/redeem",
    "/cash-out",
    "/settings",
    "/history",
];

impl Route {
    /// The page at `path` with the query string `query` (without its `?`); an unknown path is Home.
    pub fn parse(path: &str, query: &str) -> Route {
        let param = |name: &str| {
            query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
                .unwrap_or_default()
        };
        match path.trim_end_matches('/') {
            "/deposit" => Route::Deposit,
            "/send" => Route::Send {
                to: param("to"),
                amount: param("amount"),
            },
            "/request" => Route::Request,
            "/redeem" => Route::Redeem {
                secret: param("secret"),
            },
            "/cash-out" => Route::CashOut,
            "/settings" => Route::Settings,
            "/history" => Route::History,
            _ => Route::Home,
        }
    }

    /// The path and query of this page.
    pub fn href(&self) -> String {
        match self {
            Route::Home => "/".into(),
            Route::Deposit => "/deposit".into(),
            Route::Send { to, amount } if to.is_empty() && amount.is_empty() => "/send".into(),
            Route::Send { to, amount } => format!("/send?to={to}&amount={amount}"),
            Route::Request => "/request".into(),
            Route::Redeem { secret } => format!("/redeem?secret={secret}"),
            Route::CashOut => "/cash-out".into(),
            Route::Settings => "/settings".into(),
            Route::History => "/history".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_reads_back_from_its_own_url() {
        let pages = [
            Route::Home,
            Route::Deposit,
            Route::Send {
                to: "0x00000000000000000000000000000000000000aa".into(),
                amount: "2.5".into(),
            },
            Route::Send {
                to: String::new(),
                amount: String::new(),
            },
            Route::Request,
            Route::Redeem {
                secret: "0x01".into(),
            },
            Route::CashOut,
            Route::Settings,
            Route::History,
        ];
        for page in pages {
            let href = page.href();
            let (path, query) = href.split_once('?').unwrap_or((&href, ""));
            assert_eq!(Route::parse(path, query), page, "{href}");
            assert!(PATHS.contains(&path), "{path} is not served");
        }
    }

    #[test]
    fn an_unknown_path_is_home_and_missing_parameters_are_empty() {
        assert_eq!(Route::parse("/nowhere", ""), Route::Home);
        assert_eq!(
            Route::parse("/redeem/", "other=1"),
            Route::Redeem {
                secret: String::new()
            }
        );
    }
}
