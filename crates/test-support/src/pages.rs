//! A browser for the portal's and console's pages, as far as HTTP goes: it signs in with
//! email and password, keeps the session cookie, reads a page's CSRF token, posts forms,
//! and never follows redirects (tests look at them).

use crate::{STAFF_PASSWORD, TestApp};
use reqwest::{Response, StatusCode, header};

/// The session cookie's name when the server listens on loopback (as tests do).
pub const SESSION_COOKIE: &str = "shiftwire_session";

pub struct Browser {
    client: reqwest::Client,
    base: String,
    /// `shiftwire_session=<token>`, once signed in.
    cookie: Option<String>,
}

/// A page as the browser got it.
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

impl Page {
    async fn of(response: Response) -> Self {
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.expect("page body");
        Self {
            status,
            location,
            body,
        }
    }

    /// The CSRF token the page's forms carry.
    pub fn csrf(&self) -> String {
        let marker = "name=\"_csrf\" value=\"";
        let start = self.body.find(marker).expect("a form with a CSRF token") + marker.len();
        let end = self.body[start..].find('"').expect("end of the token") + start;
        self.body[start..end].to_owned()
    }
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: format!("http://{}", app.addr),
            cookie: None,
        }
    }

    /// The session cookie's value, once signed in.
    pub fn session_token(&self) -> Option<String> {
        self.cookie
            .as_deref()
            .and_then(|c| c.split_once('='))
            .map(|(_, v)| v.to_owned())
    }

    /// Signs in through `/sign-in` with [`STAFF_PASSWORD`]; panics unless it succeeds.
    pub async fn sign_in(&mut self, email: &str) -> Page {
        let page = self.try_sign_in(email, STAFF_PASSWORD).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        page
    }

    /// Posts the sign-in form; keeps the cookie it sets.
    pub async fn try_sign_in(&mut self, email: &str, password: &str) -> Page {
        let response = self
            .client
            .post(format!("{}/sign-in", self.base))
            .form(&[("email", email), ("password", password)])
            .send()
            .await
            .expect("sign-in");
        if let Some(set) = response
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
        {
            self.cookie = set.split(';').next().map(str::to_owned);
        }
        Page::of(response).await
    }

    fn with_cookie(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(cookie) => request.header(header::COOKIE, cookie),
            None => request,
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let request = self.client.get(format!("{}{path}", self.base));
        Page::of(self.with_cookie(request).send().await.expect("GET")).await
    }

    /// Posts a form as the page would (same origin), with `fields` as given.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post_from(path, fields, None).await
    }

    /// Posts a form with an `Origin` header (`None`: none, as a non-browser client).
    pub async fn post_from(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Page {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .form(fields);
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        Page::of(self.with_cookie(request).send().await.expect("POST")).await
    }

    /// Posts a form with the CSRF token of the page at `form_page`.
    pub async fn submit(&self, form_page: &str, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(form_page).await.csrf();
        let mut all = vec![("_csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(path, &all).await
    }

    /// This server's origin, as a page of it would send it.
    pub fn origin(&self) -> &str {
        &self.base
    }
}
