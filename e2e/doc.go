// Package e2e holds poolchat's end-to-end tests: the page in a real
// headless Chromium, and the checks that the committed generated files
// (templ code, built browser assets) match their sources.
package e2e
