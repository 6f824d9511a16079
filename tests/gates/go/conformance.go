// Runs the generated go target (built with `--package main`) over cases from a JSON file
// and prints its answers as JSON:  conformance CASES.json
//
// CASES.json: {"decide": [{"runtime", "model", "auth_env", "on" (optional)}], "upstream": [model],
// "regex": {"patterns": [go source], "texts": [text]}}. Models travel as base64 of their
// bytes, so ids that are not UTF-8 (a Python str holding a lone surrogate) reach Go intact.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
)

type decideCase struct {
	Runtime string   `json:"runtime"`
	Model   []byte   `json:"model"`
	AuthEnv []string `json:"auth_env"`
	On      string   `json:"on"`
}

type regexCases struct {
	Patterns []string `json:"patterns"`
	Texts    []string `json:"texts"`
}

type cases struct {
	Decide   []decideCase `json:"decide"`
	Upstream [][]byte     `json:"upstream"`
	Regex    *regexCases  `json:"regex"`
}

// orNull is JSON null for Go's empty string, as the Python side writes None.
func orNull(text string) any {
	if text == "" {
		return nil
	}
	return text
}

func list(items []string) []string {
	if items == nil {
		return []string{}
	}
	return items
}

func decide(c decideCase) map[string]any {
	model := string(c.Model)
	d := Check(c.Runtime, model, c.AuthEnv)
	if c.On != "" {
		d = CheckOn(c.Runtime, model, c.AuthEnv, c.On)
	}
	answer := map[string]any{
		"check": map[string]any{
			"runtime": d.Runtime, "model": []byte(d.Model), "allowed": d.Allowed,
			"path": orNull(d.Path), "code": orNull(d.Code), "provider": orNull(d.Provider),
			"billing_mode": orNull(d.BillingMode), "required_env": list(d.RequiredEnv),
			"candidates": list(d.Candidates),
		},
	}
	name, err := Derive(c.Runtime, model, c.AuthEnv)
	if err != nil {
		failure := err.(*DeriveError)
		answer["derive"] = map[string]any{"error": failure.Kind, "candidates": list(failure.Candidates)}
		return answer
	}
	// The step is not part of the public API: read it from the same package.
	found, _ := derive(indexes[c.Runtime], model, toSet(c.AuthEnv))
	answer["derive"] = map[string]any{"provider": name, "step": found.step, "candidates": list(found.candidates)}
	return answer
}

func upstream(model []byte) map[string]any {
	vendor, rest, provider, err := Upstream(string(model))
	if err != nil {
		if _, typed := err.(*NotNamespacedError); !typed {
			panic(err)
		}
		return map[string]any{"error": "not_namespaced"}
	}
	return map[string]any{"vendor": []byte(vendor), "model": []byte(rest), "provider": provider}
}

func main() {
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var in cases
	if err := json.Unmarshal(raw, &in); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out := map[string]any{}
	decisions := make([]any, len(in.Decide))
	for i, c := range in.Decide {
		decisions[i] = decide(c)
	}
	out["decide"] = decisions
	upstreams := make([]any, len(in.Upstream))
	for i, model := range in.Upstream {
		upstreams[i] = upstream(model)
	}
	out["upstream"] = upstreams
	if in.Regex != nil {
		matches := make([][]bool, len(in.Regex.Patterns))
		for i, source := range in.Regex.Patterns {
			compiled := regexp.MustCompile(source)
			matches[i] = make([]bool, len(in.Regex.Texts))
			for j, text := range in.Regex.Texts {
				matches[i][j] = compiled.MatchString(text)
			}
		}
		out["regex"] = matches
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
