#!/bin/sh
# Extracts the admin-facing messages into po/triage.pot and merges them into
# each translation (po/*.po), keeping what is already translated. Run from the
# top of the source tree after changing a message; then translate what msgmerge
# marks fuzzy or leaves empty (`msgfmt --check --statistics po/fr.po`).
set -eu
files=$(grep -l -E '\b(_|N_|dngettext)\(' config/*.c daemon/*.c classifier/*.c 2>/dev/null | sort)
# shellcheck disable=SC2086
xgettext --language=C --from-code=UTF-8 --keyword=_ --keyword=N_ \
	--keyword=dngettext:2,3 --add-comments=TRANSLATORS --sort-by-file \
	--package-name=triage --copyright-holder='the triage authors' \
	--msgid-bugs-address='the triage maintainers' -o po/triage.pot $files
for po in po/*.po; do
	msgmerge --quiet --update --backup=none "$po" po/triage.pot
	msgattrib --no-obsolete -o "$po" "$po"
done
