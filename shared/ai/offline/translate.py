"""Word-for-word translation from English with a small built-in phrase book.

Greetings, courtesies, days, and common words of customer messages only; phrases are matched
longest first, word order and grammar stay English, and words the phrase book lacks are left
as they are. The result is always marked ``approximate``.
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Any

from shared.ai.offline.text import WORD, plain_apostrophes

#: Target languages of the phrase book, in the column order of :data:`_TABLE`.
LANGUAGES = ("es", "fr", "de", "it", "pt")
#: The only source language.
SOURCE_LANGUAGE = "en"

_TABLE = """
hello|hola|bonjour|hallo|ciao|olá
hi|hola|salut|hallo|ciao|oi
goodbye|adiós|au revoir|auf Wiedersehen|arrivederci|adeus
bye|adiós|salut|tschüss|ciao|tchau
good morning|buenos días|bonjour|guten Morgen|buongiorno|bom dia
good afternoon|buenas tardes|bon après-midi|guten Tag|buon pomeriggio|boa tarde
good evening|buenas noches|bonsoir|guten Abend|buonasera|boa noite
good night|buenas noches|bonne nuit|gute Nacht|buonanotte|boa noite
thank you very much|muchas gracias|merci beaucoup|vielen Dank|grazie mille|muito obrigado
thank you|gracias|merci|danke|grazie|obrigado
thanks|gracias|merci|danke|grazie|obrigado
please|por favor|s'il vous plaît|bitte|per favore|por favor
you're welcome|de nada|de rien|gern geschehen|prego|de nada
yes|sí|oui|ja|sì|sim
no|no|non|nein|no|não
sorry|lo siento|désolé|Entschuldigung|mi dispiace|desculpe
excuse me|disculpe|excusez-moi|Entschuldigung|mi scusi|com licença
how are you|cómo está|comment allez-vous|wie geht es Ihnen|come sta|como vai
see you soon|hasta pronto|à bientôt|bis bald|a presto|até logo
see you tomorrow|hasta mañana|à demain|bis morgen|a domani|até amanhã
today|hoy|aujourd'hui|heute|oggi|hoje
tomorrow|mañana|demain|morgen|domani|amanhã
yesterday|ayer|hier|gestern|ieri|ontem
now|ahora|maintenant|jetzt|adesso|agora
and|y|et|und|e|e
or|o|ou|oder|o|ou
with|con|avec|mit|con|com
for|para|pour|für|per|para
good|bueno|bon|gut|buono|bom
bad|malo|mauvais|schlecht|cattivo|mau
appointment|cita|rendez-vous|Termin|appuntamento|consulta
meeting|reunión|réunion|Besprechung|riunione|reunião
order|pedido|commande|Bestellung|ordine|pedido
delivery|entrega|livraison|Lieferung|consegna|entrega
price|precio|prix|Preis|prezzo|preço
payment|pago|paiement|Zahlung|pagamento|pagamento
invoice|factura|facture|Rechnung|fattura|fatura
customer|cliente|client|Kunde|cliente|cliente
message|mensaje|message|Nachricht|messaggio|mensagem
question|pregunta|question|Frage|domanda|pergunta
help|ayuda|aide|Hilfe|aiuto|ajuda
confirmed|confirmado|confirmé|bestätigt|confermato|confirmado
cancelled|cancelado|annulé|storniert|annullato|cancelado
open|abierto|ouvert|geöffnet|aperto|aberto
closed|cerrado|fermé|geschlossen|chiuso|fechado
day|día|jour|Tag|giorno|dia
week|semana|semaine|Woche|settimana|semana
monday|lunes|lundi|Montag|lunedì|segunda-feira
tuesday|martes|mardi|Dienstag|martedì|terça-feira
wednesday|miércoles|mercredi|Mittwoch|mercoledì|quarta-feira
thursday|jueves|jeudi|Donnerstag|giovedì|quinta-feira
friday|viernes|vendredi|Freitag|venerdì|sexta-feira
saturday|sábado|samedi|Samstag|sabato|sábado
sunday|domingo|dimanche|Sonntag|domenica|domingo
"""


_Book = dict[tuple[str, ...], str]


def _phrase_book() -> dict[str, _Book]:
    book: dict[str, _Book] = {lang: {} for lang in LANGUAGES}
    for row in _TABLE.strip().splitlines():
        english, *targets = row.split("|")
        for lang, target in zip(LANGUAGES, targets, strict=True):
            book[lang][tuple(english.split())] = target
    return book


#: Target language -> English words (as a tuple) -> translation.
PHRASE_BOOK = _phrase_book()
#: Most words in one phrase of the book.
LONGEST_PHRASE = max(len(words) for words in PHRASE_BOOK[LANGUAGES[0]])


def _match(text: str, found: list[re.Match[str]], i: int, book: _Book) -> tuple[int, str]:
    """The longest phrase of ``book`` starting at word ``i``: (its word count, translation);
    (0, "") when none does. Words of a phrase must be separated by whitespace only."""
    for n in range(min(LONGEST_PHRASE, len(found) - i), 0, -1):
        span = found[i : i + n]
        key = tuple(plain_apostrophes(m.group().lower()) for m in span)
        if key in book and all(not text[a.end() : b.start()].strip() for a, b in pairwise(span)):
            return n, book[key]
    return 0, ""


def translate(text: str, target: str, source: str | None) -> dict[str, Any]:
    """``{"text", "targetLanguage", "sourceLanguage", "approximate", "unknownWords"}``.

    ``target``/``source`` are ISO 639-1 codes (a region suffix such as ``pt-br`` is ignored);
    ``source`` None means English. Other pairs are not supported: the text comes back as it
    was, with every word listed in ``unknownWords``. A phrase whose first English word is
    capitalised gets a capitalised translation.
    """
    lang, source_lang = target.split("-")[0], (source or SOURCE_LANGUAGE).split("-")[0]
    found = list(WORD.finditer(text))
    book = PHRASE_BOOK.get(lang) if source_lang == SOURCE_LANGUAGE else None
    if lang == source_lang or book is None:
        words = [m.group() for m in found if not m.group().isdigit()]
        unknown = [] if lang == source_lang else list(dict.fromkeys(words))
        return _result(text, target, source, approximate=lang != source_lang, unknown=unknown)
    pieces: list[str] = []
    unknown_words: dict[str, None] = {}
    cursor = i = 0
    while i < len(found):
        n, translated = _match(text, found, i, book)
        if not n:
            if not found[i].group().isdigit():
                unknown_words[found[i].group()] = None
            i += 1
            continue
        if found[i].group()[0].isupper():
            translated = translated[0].upper() + translated[1:]
        pieces.append(text[cursor : found[i].start()] + translated)
        cursor, i = found[i + n - 1].end(), i + n
    pieces.append(text[cursor:])
    return _result("".join(pieces), target, source, approximate=True, unknown=list(unknown_words))


def _result(
    text: str, target: str, source: str | None, *, approximate: bool, unknown: list[str]
) -> dict[str, Any]:
    return {
        "text": text,
        "targetLanguage": target,
        "sourceLanguage": source or SOURCE_LANGUAGE,
        "approximate": approximate,
        "unknownWords": unknown,
    }
