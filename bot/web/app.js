// The Mini App signing form. Every word comes from the server (POST /app/api/form), already in
// the supporter's language; this script only places it, checks answers as they are given (the
// same checks the server makes, with the server's own messages) and sends the form. Text is
// always set with textContent, never parsed as HTML.
"use strict";

(function () {
  const tg = window.Telegram && window.Telegram.WebApp;
  const $ = (id) => document.getElementById(id);
  const state = { page: null, country: null, searchTimer: 0, touched: new Set() };

  // Each value is isolated (FIRST STRONG ISOLATE … POP DIRECTIONAL ISOLATE), as the server does
  // (bot.i18n.Translator.format): a name or number keeps its own direction in any sentence.
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, (whole, key) =>
      key in values ? `\u2068${values[key]}\u2069` : whole,
    );
  }

  function number(value) {
    return new Intl.NumberFormat(state.page ? state.page.lang : undefined).format(value);
  }

  function show(id, visible) {
    $(id).hidden = !visible;
  }

  async function post(path, body) {
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    let data = {};
    try {
      data = await response.json();
    } catch (error) {
      data = {};
    }
    return { status: response.status, data };
  }

  // --- the country: the chat's search, as radio buttons -----------------------------------

  function minimumAge(code) {
    const ages = state.page.ages;
    return (code && ages.by_country[code]) || ages.default;
  }

  function countryOption(country) {
    const label = document.createElement("label");
    label.className = "choice";
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "country";
    input.value = country.code;
    input.checked = state.country !== null && state.country.code === country.code;
    input.addEventListener("change", () => chooseCountry(country));
    const text = document.createElement("span");
    text.textContent = `${country.flag} ${country.name}`;
    label.append(input, text);
    return label;
  }

  function showCountries(countries) {
    const shown = countries.slice();
    if (state.country && !shown.some((country) => country.code === state.country.code)) {
      shown.unshift(state.country); // the chosen one stays visible while searching
    }
    $("country-options").replaceChildren(...shown.map(countryOption));
  }

  async function search(query) {
    const texts = state.page.texts;
    if (!query.trim()) {
      $("country-status").textContent = "";
      showCountries(state.page.countries);
      return;
    }
    const params = new URLSearchParams({ q: query, lang: state.page.lang });
    const response = await fetch(`/app/api/countries?${params}`);
    const found = (await response.json()).countries;
    if ($("country-search").value !== query) return; // typed on meanwhile
    $("country-status").textContent = found.length ? "" : fill(texts.no_match, { query });
    showCountries(found);
  }

  function chooseCountry(country) {
    const before = minimumAge(state.country && state.country.code);
    state.country = country;
    if (minimumAge(country.code) !== before) {
      // Another minimum age: the question is asked again, as in the chat.
      $("age-yes").checked = false;
      $("age-no").checked = false;
      $("guardian-consent").checked = false;
    }
    describeAge();
    check("country");
  }

  // --- age ---------------------------------------------------------------------------------

  function describeAge() {
    const texts = state.page.texts;
    const age = minimumAge(state.country && state.country.code);
    $("age-yes-label").textContent = fill(texts.age_yes, { age });
    $("age-no-label").textContent = fill(texts.age_no, { age });
    $("guardian-hint").textContent = fill(texts.guardian_hint, { age });
    const hint = state.country ? fill(texts.age_hint, { age, country: state.country.name }) : "";
    $("age-hint").textContent = hint;
    show("guardian", $("age-no").checked);
  }

  // --- checks: the server's rules, the server's words --------------------------------------

  const CONTROL = /[\p{Cc}\p{Cs}\p{Co}\p{Cn}]/u;
  const FORMAT = /\p{Cf}/gu;
  const JOINERS = new Set(["\u200c", "\u200d"]);

  function normalName(raw) {
    return raw.normalize("NFC").split(/\s+/u).filter(Boolean).join(" ");
  }

  function nameProblem(raw) {
    const rules = state.page.rules;
    if (!raw.replace(/\p{C}/gu, "").trim()) return "name_required"; // nothing visible typed
    const name = normalName(raw);
    const formats = name.match(FORMAT) || [];
    if (CONTROL.test(name) || formats.some((char) => !JOINERS.has(char))) {
      return "name_has_control_characters";
    }
    const length = Array.from(name).length; // characters, as Python counts them
    if (length < rules.name_min) return "name_too_short";
    if (length > rules.name_max) return "name_too_long";
    if (new RegExp(rules.link, "i").test(name)) return "name_has_link";
    if (!/\p{L}/u.test(name)) return "name_needs_letters";
    return null;
  }

  function problemOf(field) {
    const texts = state.page.texts;
    const age = minimumAge(state.country && state.country.code);
    if (field === "country") return state.country ? "" : texts.country_missing;
    if (field === "age") {
      if (!$("age-yes").checked && !$("age-no").checked) return texts.age_missing;
      if ($("age-no").checked && !$("guardian-consent").checked) {
        return fill(texts.guardian_missing, { age });
      }
      return "";
    }
    if (field === "consent") return $("consent").checked ? "" : texts.consent_missing;
    const problem = nameProblem($("name").value);
    if (!problem) return "";
    const rules = state.page.rules;
    return fill(state.page.name_errors[problem], { min: rules.name_min, max: rules.name_max });
  }

  const FIELDS = {
    country: { error: "country-error", input: "country-search" },
    age: { error: "age-error", input: "age-yes" },
    consent: { error: "consent-error", input: "consent" },
    name: { error: "name-error", input: "name" },
  };
  // The API's field names, as the server names them in a 422.
  const API_FIELDS = {
    country: "country",
    age_confirmed: "age",
    guardian_consent: "age",
    consent: "consent",
    name: "name",
  };

  function setError(field, message) {
    const { error, input } = FIELDS[field];
    $(error).textContent = message;
    $(input).setAttribute("aria-invalid", message ? "true" : "false");
  }

  function check(field) {
    state.touched.add(field);
    const message = problemOf(field);
    setError(field, message);
    return !message;
  }

  // --- sending -----------------------------------------------------------------------------

  function finish(template, number_, total) {
    const texts = state.page.texts;
    $("done-text").textContent = fill(template, { number: number(number_) });
    $("done-count").textContent = `${texts.count_so_far} ${number(total)}`;
    show("form", false);
    show("done", true);
    $("done").focus();
    if (tg && tg.HapticFeedback) tg.HapticFeedback.notificationOccurred("success");
  }

  async function submit(event) {
    event.preventDefault();
    $("form-error").textContent = "";
    const wrong = Object.keys(FIELDS).filter((field) => !check(field));
    if (wrong.length) {
      $(FIELDS[wrong[0]].input).focus();
      return;
    }
    const button = $("submit");
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    const body = {
      init_data: tg ? tg.initData : "",
      petition: state.page.petition,
      country: state.country.code,
      age_confirmed: $("age-yes").checked,
      guardian_consent: $("age-no").checked && $("guardian-consent").checked,
      consent: $("consent").checked,
      wants_updates: $("wants-updates").checked,
      name: normalName($("name").value),
    };
    try {
      const { status, data } = await post("/app/api/sign", body);
      const texts = state.page.texts;
      if (status === 200) finish(texts.thanks, data.number, data.total);
      else if (status === 409) finish(texts.already, data.number, data.total);
      else if (status === 422 && API_FIELDS[data.field]) {
        setError(API_FIELDS[data.field], data.error);
        $(FIELDS[API_FIELDS[data.field]].input).focus();
      } else $("form-error").textContent = data.error || texts.failed;
    } catch (error) {
      $("form-error").textContent = state.page.texts.failed;
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }

  // --- the page ----------------------------------------------------------------------------

  function text(id, value) {
    $(id).textContent = value || "";
  }

  function render(page) {
    const texts = page.texts;
    document.documentElement.lang = page.lang;
    document.documentElement.dir = page.dir;
    document.title = page.title;
    text("title", page.title);
    text("summary", page.summary);
    text("targets", page.targets);
    text("progress", page.progress);
    text("demands-heading", texts.demands_heading);
    $("demands").replaceChildren(
      ...page.demands.map((demand) => {
        const item = document.createElement("li");
        item.textContent = demand;
        return item;
      }),
    );
    show("demands-section", page.demands.length > 0);
    text("country-legend", texts.country_legend);
    text("country-hint", texts.country_hint);
    text("age-legend", texts.age_legend);
    text("guardian-label", texts.guardian_label);
    text("consent-legend", texts.consent_legend);
    text("consent-text", page.consent);
    text("consent-label", texts.consent_label);
    text("updates-label", texts.updates_label);
    text("name-label", texts.name_label);
    const rules = page.rules;
    text("name-hint", fill(texts.name_hint, { min: rules.name_min, max: rules.name_max }));
    $("name").value = page.name;
    text("submit", texts.submit);
    text("privacy-heading", texts.privacy_heading);
    text("privacy", page.privacy);
    text("privacy-commands", texts.privacy_commands);
    if (page.privacy_url) {
      const [before, after] = texts.privacy_url.split("{url}");
      const link = document.createElement("a");
      link.href = page.privacy_url;
      link.textContent = page.privacy_url;
      link.addEventListener("click", (event) => {
        if (tg && tg.openLink) {
          event.preventDefault(); // outside links open in the browser, not in the form
          tg.openLink(page.privacy_url);
        }
      });
      const isolated = document.createElement("bdi"); // the address keeps its own direction
      isolated.append(link);
      $("privacy-link").replaceChildren(before || "", isolated, after || "");
      show("privacy-link", true);
    }
    show("privacy-section", true);
    describeAge();
    showCountries(page.countries);
    const stop = page.signed || page.closed;
    if (stop) {
      text("notice", stop);
      show("notice", true);
    }
    show("form", !stop);
  }

  function wire() {
    $("form").addEventListener("submit", submit);
    $("country-search").addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault(); // Enter in the search box picks a country, it does not sign
      const first = $("country-options").querySelector("input");
      if (first) first.focus();
    });
    $("country-search").addEventListener("input", (event) => {
      clearTimeout(state.searchTimer);
      const query = event.target.value;
      state.searchTimer = setTimeout(() => search(query).catch(() => {}), 150);
    });
    for (const id of ["age-yes", "age-no", "guardian-consent"]) {
      $(id).addEventListener("change", () => {
        describeAge();
        if (id !== "age-no" || state.touched.has("age")) check("age");
      });
    }
    $("consent").addEventListener("change", () => check("consent"));
    $("name").addEventListener("blur", () => check("name"));
    $("name").addEventListener("input", () => {
      if (state.touched.has("name")) check("name");
    });
  }

  async function start() {
    if (tg) {
      tg.ready();
      tg.expand();
    }
    const petition = new URLSearchParams(window.location.search).get("petition");
    const body = { init_data: tg ? tg.initData : "" };
    if (petition) body.petition = petition;
    const { status, data } = await post("/app/api/form", body);
    $("app").removeAttribute("aria-busy");
    if (status !== 200) {
      text("notice", data.error);
      show("notice", true);
      return;
    }
    state.page = data;
    render(data);
    wire();
  }

  start().catch(() => {
    $("app").removeAttribute("aria-busy");
  });
})();
